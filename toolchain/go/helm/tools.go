//go:build tools

// Package tools pins Helm so `go build helm.sh/helm/v4/cmd/helm` resolves it from this module's go.mod/go.sum
// (built by tests/charts/helm.py; the chart's tests render and lint charts/falcone with it).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
