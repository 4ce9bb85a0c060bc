//go:build tools

// Package tools pins the Knative Serving commands that build.sh compiles for the e2e
// node's Knative mode. The build tag keeps it out of every normal build; it exists so that
// `go mod tidy` records all their dependencies in go.mod/go.sum.
package tools

import (
	_ "knative.dev/serving/cmd/autoscaler"
	_ "knative.dev/serving/cmd/controller"
	_ "knative.dev/serving/cmd/queue"
	_ "knative.dev/serving/cmd/webhook"
)
