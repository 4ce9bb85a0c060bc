package actions

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/dynamic"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

// Env is what tasks may use of the world. Nil fields get safe defaults, except those a
// task needs a cluster for: such a task fails with an error that says so.
type Env struct {
	// Dynamic reads Knative Services and the objects common/readiness waits for. Nil in
	// local mode (iter8ctl run, no cluster).
	Dynamic dynamic.Interface
	// Mapper resolves common/readiness kinds (kubectl's TYPE[.VERSION][.GROUP], short
	// names included) and weightObjRef kinds to resources: a kindmap.Mapper. Without it
	// weightObjRef kinds are mapped by the usual pluralization and objRefs cannot be
	// resolved.
	Mapper meta.RESTMapper
	// HTTPClient sends notifications and downloads metrics/collect payloads;
	// http.DefaultClient when nil. Whichever it is, a redirect to another host carries
	// none of the request's headers.
	HTTPClient *http.Client
	// Secrets reads a Secret. Nil in local mode.
	Secrets credential.Getter
	// Out receives one line per decision, and the output of executed commands.
	Out io.Writer
	// Exec says which commands common/exec and run: may execute; the zero policy allows
	// none.
	Exec ExecPolicy
	// Now is time.Now when nil.
	Now func() time.Time
	// Sleep waits between polls; nil waits for real. Tests pass one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Collect runs the builtin load generator for metrics/collect. It is injected so that
	// this package does not depend on the load generator.
	Collect func(ctx context.Context, exp *v2alpha1.Experiment, with CollectSpec) error
}

func (e Env) withDefaults() Env {
	if e.Out == nil {
		e.Out = io.Discard
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	e.HTTPClient = credential.Client(e.HTTPClient)
	if e.Sleep == nil {
		e.Sleep = sleep
	}
	return e
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// task is one parsed task, ready to run.
type task interface {
	run(ctx context.Context, tc *taskContext) error
}

// inNamespace is a task whose validity depends on the experiment's namespace, such as a
// task that names a Secret, which must be in it.
type inNamespace interface {
	checkNamespace(namespace string) *apis.FieldError
}

// taskContext is what a running task sees.
type taskContext struct {
	Env
	exp  *v2alpha1.Experiment
	logf func(format string, args ...any)
}

// parser turns a task's `with` into a task. Its errors have paths relative to the task,
// such as with.cmd.
type parser func(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError)

// library maps the normalized task names (v2alpha1.KnownTasks) to their parsers.
var library = map[string]parser{
	"knative/init-experiment": parseInitExperiment,
	"common/readiness":        parseReadiness,
	"common/exec":             parseExec,
	"notification/http":       parseHTTP,
	"metrics/collect":         parseCollect,
}

// label names a task in logs and errors.
func label(t v2alpha1.TaskSpec) string {
	if hasTask, hasRun := hasTaskOrRun(t); hasRun && !hasTask {
		return "run"
	}
	return t.Name()
}

// hasTaskOrRun reports which of task and run are set, as v2alpha1's validation sees them.
func hasTaskOrRun(t v2alpha1.TaskSpec) (bool, bool) {
	return t.Task != nil && *t.Task != "", t.Run != nil && strings.TrimSpace(*t.Run) != ""
}

func parseTask(t v2alpha1.TaskSpec) (task, *apis.FieldError) {
	hasTask, hasRun := hasTaskOrRun(t)
	switch {
	case hasRun && hasTask:
		return nil, apis.ErrMultipleOneOf("task", "run")
	case hasRun:
		return parseRun(*t.Run, t.With)
	case !hasTask:
		return nil, apis.ErrMissingOneOf("task", "run")
	}
	p, ok := library[t.Name()]
	if !ok {
		return nil, apis.ErrInvalidValue(t.Name(), "task", "known tasks: "+knownTasks())
	}
	return p(t.With)
}

func knownTasks() string {
	names := make([]string, 0, len(library))
	for n := range library {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}

// prepared is a parsed task with its compiled condition.
type prepared struct {
	spec v2alpha1.TaskSpec
	task task
	cond *vm.Program
}

func prepare(t v2alpha1.TaskSpec) (prepared, *apis.FieldError) {
	p := prepared{spec: t}
	var errs *apis.FieldError
	tk, ferr := parseTask(t)
	errs = errs.Also(ferr)
	p.task = tk
	if t.If != nil {
		prog, err := compileCondition(*t.If)
		if err != nil {
			errs = errs.Also(apis.ErrInvalidValue(*t.If, "if", err.Error()))
		}
		p.cond = prog
	}
	return p, errs
}

// Run runs the tasks of spec.strategy.actions[action] in order, skipping those whose `if`
// is false. Every task is checked before the first one runs, so an invalid task never
// leaves an action half done. Run may change exp in memory (knative/init-experiment fills
// spec.versionInfo; metrics/collect fills status.analysis.aggregatedBuiltinHists); the
// caller persists it. The first failing task stops the action; the error names the action,
// the task's index and the task.
func Run(ctx context.Context, env Env, exp *v2alpha1.Experiment, action string) error {
	env = env.withDefaults()
	specs := exp.Spec.Strategy.Actions[action]
	tasks := make([]prepared, len(specs))
	for i, s := range specs {
		p, ferr := prepare(s)
		if ns, ok := p.task.(inNamespace); ok && ferr == nil {
			ferr = ns.checkNamespace(exp.Namespace).ViaField("with")
		}
		if ferr != nil {
			return fmt.Errorf("%s action, task %d (%s): invalid: %w", action, i, label(s), ferr)
		}
		tasks[i] = p
	}
	if len(tasks) == 0 {
		fmt.Fprintf(env.Out, "%s action: no tasks\n", action)
		return nil
	}
	for i, p := range tasks {
		prefix := fmt.Sprintf("%s action, task %d (%s)", action, i, label(p.spec))
		logf := func(format string, args ...any) {
			fmt.Fprintf(env.Out, prefix+": "+format+"\n", args...)
		}
		if p.cond != nil {
			ok, err := evalCondition(p.cond, exp)
			if err != nil {
				return fmt.Errorf("%s: evaluating if %q: %w", prefix, *p.spec.If, err)
			}
			if !ok {
				logf("skipped: if %q is false", *p.spec.If)
				continue
			}
			logf("if %q is true", *p.spec.If)
		}
		logf("running")
		start := env.Now()
		if err := p.task.run(ctx, &taskContext{Env: env, exp: exp, logf: logf}); err != nil {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		logf("done in %s", env.Now().Sub(start).Round(time.Millisecond))
	}
	return nil
}

// Validate checks the `with` inputs and `if` expressions of every task of the experiment
// without running anything. Whether a task names a known library task, and has exactly
// one of task and run, is checked by v2alpha1's Validate; Validate leaves such tasks out
// so that the two can be combined without repeating an error.
func Validate(exp *v2alpha1.Experiment) *apis.FieldError {
	var errs *apis.FieldError
	eachTask(exp, func(action string, i int, t v2alpha1.TaskSpec) {
		hasTask, hasRun := hasTaskOrRun(t)
		if hasTask == hasRun {
			return
		}
		if _, known := library[t.Name()]; hasTask && !known {
			return
		}
		p, ferr := prepare(t)
		if ns, ok := p.task.(inNamespace); ok && ferr == nil {
			ferr = ns.checkNamespace(exp.Namespace).ViaField("with")
		}
		errs = errs.Also(ferr.ViaFieldIndex(action, i).ViaField("spec", "strategy", "actions"))
	})
	return errs
}

// eachTask calls f for every task of exp's actions, the actions in name order, so that
// errors about them come out in the same order every time.
func eachTask(exp *v2alpha1.Experiment, f func(action string, i int, t v2alpha1.TaskSpec)) {
	names := make([]string, 0, len(exp.Spec.Strategy.Actions))
	for a := range exp.Spec.Strategy.Actions {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		for i, t := range exp.Spec.Strategy.Actions[a] {
			f(a, i, t)
		}
	}
}

// ValidateExperiment runs every check of an Experiment that needs no cluster: the spec's
// own (v2alpha1) and each action task's, as init-experiment runs them. iter8ctl validate
// and iter8ctl run call this one function, so that they accept exactly what init accepts.
func ValidateExperiment(exp *v2alpha1.Experiment) *apis.FieldError {
	return exp.Validate().Also(Validate(exp))
}
