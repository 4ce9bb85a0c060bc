// Package actions is the task library that the start, loop and finish actions of an
// experiment run (iter8 v2's task runner).
//
// Tasks:
//
//   - knative/init-experiment waits until the target (namespace/name) Knative Service is
//     Ready, ConfigurationsReady and RoutesReady (with numAttempts, default 10, and
//     periodSeconds, default 18), then fills in versionInfo from its traffic: the variables
//     revision and namespace, and for Canary the weightObjRefs at the revisions' entries of
//     spec.traffic. What the user wrote is kept. Conformance and Canary only. It needs a
//     cluster.
//   - common/readiness waits until objects (objRefs: kind as kubectl takes it, name,
//     namespace, waitFor a condition) exist and have their condition, and until every
//     weightObjRef object exists (initialDelaySeconds 5, numRetries 12, intervalSeconds 5
//     by default). It needs a cluster.
//   - common/exec runs cmd with args. Args are Go text/template strings ({{ .name }},
//     {{ .<variable> }}) rendered with the version recommended for promotion, unless
//     disableInterpolation is true; cmd is never templated.
//   - notification/http sends the experiment's summary, or a body templated with @< >@
//     (.this is the experiment, .summary the summary), to a URL, with Basic, Bearer or
//     APIKey auth from a Secret of the experiment's namespace that lists the URL's host
//     (package credential). Only the headers of APIKey see .secret. Secret values are
//     scrubbed from its errors and logs.
//   - metrics/collect sends load to the versions' URLs through Env.Collect.
//   - run: is a command line, templated like common/exec's args.
//
// Nothing is ever run through a shell. A run: line is split into words the way a POSIX
// shell splits them (quotes and backslashes are honoured), then executed as argv; each word
// is templated on its own, so a templated value is always exactly one argument, whatever it
// contains. Pipes, redirections, ';', '&', '$' expansion and command substitution are
// rejected by validation rather than passed on as literal words; iter8's run executed
// `/bin/bash -c`; here a task that needs a shell must name one with common/exec (the stage
// image has none, so it must be shipped and allowed by the cluster admin on purpose).
//
// A task runs when its `if` expression (github.com/expr-lang/expr) is true. The expression
// can call WinnerFound(), CandidateWon(), RolledBack() and Failed(), and read the
// experiment's Spec and Status.
package actions
