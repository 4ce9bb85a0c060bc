package iter8ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// errWatchEnded: the experiment was deleted while watched.
var errWatchEnded = errors.New("the experiment was deleted")

// watchExperiment calls render with the experiment now and after every change the API
// server reports through a watch (never by polling), until the experiment is Completed
// (render has then been called with it), it is deleted, or ctx ends. A watch that the
// server closes, or that expires, is resumed from the last version seen, or from a fresh
// read when that version is too old.
func (f *clusterFlags) watchExperiment(ctx context.Context, name string, warn io.Writer, render func(*v2alpha1.Experiment) error) error {
	cfg, ns, err := f.config()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ri := dyn.Resource(v2alpha1.ExperimentResource).Namespace(ns)
	warned := false
	show := func(u *unstructured.Unstructured) (bool, error) {
		b, err := u.MarshalJSON()
		if err != nil {
			return false, err
		}
		exp, ignored, err := v2alpha1.ReadExperiment(b)
		if err != nil {
			return false, fmt.Errorf("decoding experiment %s/%s: %w", ns, name, err)
		}
		if len(ignored) > 0 && !warned {
			warned = true
			fmt.Fprintf(warn, "Warning: experiment %s/%s: ignored %s that this iter8ctl does not read\n", ns, name, plural(len(ignored), "field"))
		}
		if err := render(exp); err != nil {
			return false, err
		}
		return exp.Status.GetStage() == v2alpha1.StageCompleted, nil
	}

	rv := ""
	for {
		if rv == "" {
			u, err := ri.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("reading experiment %s/%s: %w", ns, name, err)
			}
			if done, err := show(u); done || err != nil {
				return err
			}
			rv = u.GetResourceVersion()
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watching experiment %s/%s: %w", ns, name, err)
		}
		rv, err = follow(ctx, w, rv, show)
		w.Stop()
		if err != nil {
			return err
		}
		if rv == "done" {
			return nil
		}
		// The server closed the watch: resume after a breath, from rv ("" re-reads).
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// follow shows each change of w; it returns "done" when the experiment completed, the
// version to resume from when the watch closed, or "" when that version expired.
func follow(ctx context.Context, w watch.Interface, rv string, show func(*unstructured.Unstructured) (bool, error)) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return "", errWatchEnded
			case watch.Error:
				// Typically 410 Gone: the version is too old; read afresh.
				return "", nil
			case watch.Added, watch.Modified:
				u, ok := ev.Object.(*unstructured.Unstructured)
				if !ok {
					continue
				}
				rv = u.GetResourceVersion()
				done, err := show(u)
				if err != nil {
					return "", err
				}
				if done {
					return "done", nil
				}
			}
		}
	}
}

// watchFlag adds -w to describe.
func watchFlag(cmd *cobra.Command, w *bool) {
	cmd.Flags().BoolVarP(w, "watch", "w", false, "after describing the experiment NAME, describe it again at every change (a watch, not polling) until it completes")
}
