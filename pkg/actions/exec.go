package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"knative.dev/pkg/apis"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// command is an argv whose elements after the first are Go templates. Each element is
// rendered on its own into exactly one argument.
type command struct {
	name string
	args []string
	// tmpls holds the parsed args; nil when interpolation is disabled.
	tmpls []*template.Template
}

// newCommand parses the templates of args; it returns the index of the arg that failed.
func newCommand(name string, args []string, interpolate bool) (command, int, error) {
	c := command{name: name, args: args}
	if !interpolate {
		return c, -1, nil
	}
	for i, a := range args {
		t, err := template.New(fmt.Sprintf("arg %d", i)).Option("missingkey=error").Parse(a)
		if err != nil {
			return command{}, i, err
		}
		c.tmpls = append(c.tmpls, t)
	}
	return c, -1, nil
}

// argv renders the arguments with the name and variables of the version recommended for
// promotion.
func (c command) argv(exp *v2alpha1.Experiment) ([]string, error) {
	if c.tmpls == nil {
		return c.args, nil
	}
	var data map[string]string
	out := make([]string, len(c.args))
	for i, t := range c.tmpls {
		if !strings.Contains(c.args[i], "{{") {
			out[i] = c.args[i]
			continue
		}
		if data == nil {
			var err error
			if data, err = promotionData(exp); err != nil {
				return nil, err
			}
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("interpolating argument %d: %w", i, err)
		}
		out[i] = b.String()
	}
	return out, nil
}

// promotionData is the template data of common/exec and run: the name and the variables of
// the version recommended for promotion (iter8's "tags").
func promotionData(exp *v2alpha1.Experiment) (map[string]string, error) {
	rec := exp.Status.RecommendedVersion()
	if rec == "" {
		return nil, errors.New("no version is recommended for promotion yet, so {{ }} placeholders cannot be filled (set disableInterpolation: true in a start action)")
	}
	v, ok := exp.Spec.Version(rec)
	if !ok {
		return nil, fmt.Errorf("version %q, recommended for promotion, is not in spec.versionInfo", rec)
	}
	data := map[string]string{}
	for _, nv := range v.Variables {
		data[nv.Name] = nv.Value
	}
	data["name"] = v.Name
	return data, nil
}

// stderrTail is how much of a failed command's stderr its error quotes.
const stderrTail = 512

func (c command) run(ctx context.Context, tc *taskContext) error {
	// Checked again here, not only by init: whatever path led here, a command the policy
	// does not allow never runs.
	if !tc.Exec.allows(c.name) {
		return fmt.Errorf("%s", tc.Exec.refusal(c.name))
	}
	argv, err := c.argv(tc.exp)
	if err != nil {
		return err
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = strconv.Quote(a)
	}
	tc.logf("executing %s %s", strconv.Quote(c.name), strings.Join(quoted, " "))
	cmd := exec.CommandContext(ctx, c.name, argv...)
	var stderr tailBuffer
	// The child's stdout and stderr are copied by two goroutines; without the lock their
	// writes to Out would race (and a bytes.Buffer loses some).
	out := &lockedWriter{w: tc.Out}
	cmd.Stdout = out
	cmd.Stderr = io.MultiWriter(out, &stderr)
	// A child that leaves grandchildren holding its output open must not hang the task
	// after it exits or is killed.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if tail := strings.TrimSpace(stderr.String()); tail != "" {
			return fmt.Errorf("executing %s: %w: %s", c.name, err, tail)
		}
		return fmt.Errorf("executing %s: %w", c.name, err)
	}
	return nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last stderrTail bytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > stderrTail {
		t.b = t.b[len(t.b)-stderrTail:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.b, []byte("?"))) }

// execTask is common/exec: with {cmd, args, disableInterpolation}.
type execTask struct{ command }

func (t execTask) run(ctx context.Context, tc *taskContext) error { return t.command.run(ctx, tc) }

func parseExec(with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	name := d.requiredString("cmd")
	var disable bool
	d.decode("disableInterpolation", &disable)
	var args []string
	argsOK := true
	if k, raw, ok := d.raw("args"); ok {
		var err *apis.FieldError
		args, err = scalarList(raw)
		d.fail(err.ViaField(k))
		argsOK = err == nil
	}
	var c command
	if argsOK {
		var i int
		var err error
		if c, i, err = newCommand(name, args, !disable); err != nil {
			d.fail(apis.ErrInvalidValue(args[i], fmt.Sprintf("args[%d]", i), err.Error()))
		}
	}
	if ferr := d.finish(); ferr != nil {
		return nil, ferr
	}
	return execTask{c}, nil
}

// scalarList decodes a list of strings, numbers and booleans (iter8 takes args as []any)
// into strings.
func scalarList(raw []byte) ([]string, *apis.FieldError) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, apis.ErrInvalidValue(string(raw), apis.CurrentField, "want a list of strings")
	}
	out := make([]string, len(items))
	var errs *apis.FieldError
	for i, it := range items {
		var v any
		dec := json.NewDecoder(bytes.NewReader(it))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			errs = errs.Also(apis.ErrInvalidArrayValue(string(it), apis.CurrentField, i))
			continue
		}
		switch v := v.(type) {
		case string:
			out[i] = v
		case json.Number:
			out[i] = v.String()
		case bool:
			out[i] = strconv.FormatBool(v)
		default:
			errs = errs.Also(apis.ErrInvalidArrayValue(string(it), apis.CurrentField, i))
		}
	}
	return out, errs
}

// runTask is a `run:` command line: split into words, executed without a shell.
type runTask struct{ command }

func (t runTask) run(ctx context.Context, tc *taskContext) error { return t.command.run(ctx, tc) }

func parseRun(line string, with map[string]apiextensionsv1.JSON) (task, *apis.FieldError) {
	d := newWithDecoder(with)
	var disable bool
	d.decode("disableInterpolation", &disable)
	errs := d.finish()
	words, err := splitWords(line)
	if err != nil {
		return nil, errs.Also(apis.ErrInvalidValue(line, "run", err.Error()))
	}
	if len(words) == 0 {
		return nil, errs.Also(apis.ErrInvalidValue(line, "run", "no command"))
	}
	if strings.Contains(words[0], "{{") {
		return nil, errs.Also(apis.ErrInvalidValue(line, "run", "the command name cannot be templated"))
	}
	c, _, err := newCommand(words[0], words[1:], !disable)
	if err != nil {
		return nil, errs.Also(apis.ErrInvalidValue(line, "run", err.Error()))
	}
	if errs != nil {
		return nil, errs
	}
	return runTask{c}, nil
}
