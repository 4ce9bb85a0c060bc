//go:build tools

// Package tools pins the dependency set of design.md section 8 (known to resolve
// together) before every package that uses it exists, so `go mod tidy` keeps it.
package tools

import (
	_ "fortio.org/fortio/periodic"
	_ "github.com/expr-lang/expr"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/itchyny/gojq"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/prometheus/client_golang/api"
	_ "github.com/spf13/cobra"
	_ "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	_ "gotest.tools/v3/golden"
	_ "istio.io/client-go/pkg/apis/networking/v1"
	_ "k8s.io/client-go/dynamic"
	_ "knative.dev/pkg/apis"
	_ "knative.dev/serving/pkg/apis/serving/v1"
	_ "sigs.k8s.io/yaml"
)
