package actions

import (
	"fmt"
	"path/filepath"
	"strings"

	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ExecPolicy says which commands common/exec and run: may execute. A command runs with
// the identity of whoever runs the experiment (the Task's ServiceAccount in the cluster,
// the user with iter8ctl run), so the author of an Experiment may not choose one unless
// an administrator allowed it: the zero policy allows nothing.
type ExecPolicy struct {
	// AllowAll allows every command: iter8ctl run --allow-exec.
	AllowAll bool
	// Commands are the allowed commands, as cmd (or run:'s first word) names them: an
	// absolute path allows that file only, a bare name that name looked up in PATH.
	Commands []string
}

// ExecAllowlistEnv is the environment variable from which the stages read the commands a
// cluster admin allowed (comma-separated); the Tasks set it from the optional ConfigMap
// iter8-tekton-config, key exec-allowlist (docs/security.md).
const ExecAllowlistEnv = "ITER8_EXEC_ALLOWLIST"

// ParseExecAllowlist reads a comma-separated list of commands.
func ParseExecAllowlist(s string) ExecPolicy {
	var p ExecPolicy
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			p.Commands = append(p.Commands, c)
		}
	}
	return p
}

func (p ExecPolicy) allows(name string) bool {
	if p.AllowAll {
		return true
	}
	for _, c := range p.Commands {
		if c == name || (filepath.IsAbs(c) && filepath.Clean(c) == filepath.Clean(name) && filepath.IsAbs(name)) {
			return true
		}
	}
	return false
}

func (p ExecPolicy) refusal(name string) string {
	allowed := "none"
	if len(p.Commands) > 0 {
		allowed = strings.Join(p.Commands, ", ")
	}
	return fmt.Sprintf("command %q is not allowed (allowed: %s): commands run with the identity of whoever runs the experiment, so a cluster admin lists them in %s (ConfigMap iter8-tekton-config, key exec-allowlist), and iter8ctl run takes --allow-exec", name, allowed, ExecAllowlistEnv)
}

// CheckExec names every common/exec task and run: of exp whose command p does not allow.
// init and iter8ctl run call it before anything runs, so a refused command changes nothing.
func CheckExec(exp *v2alpha1.Experiment, p ExecPolicy) *apis.FieldError {
	var errs *apis.FieldError
	eachTask(exp, func(action string, i int, t v2alpha1.TaskSpec) {
		pt, ferr := prepare(t)
		if ferr != nil {
			return // Validate names it
		}
		var c command
		field := "with.cmd"
		switch tk := pt.task.(type) {
		case execTask:
			c = tk.command
		case runTask:
			c, field = tk.command, "run"
		default:
			return
		}
		if !p.allows(c.name) {
			errs = errs.Also(apis.ErrGeneric(p.refusal(c.name), field).ViaFieldIndex(action, i).ViaField("spec", "strategy", "actions"))
		}
	})
	return errs
}
