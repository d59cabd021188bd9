//go:build tools

// Package tools pins the Kubernetes control plane so `go build k8s.io/kubernetes/cmd/<command>`
// resolves it from this module's go.mod/go.sum (see localplatform/kube_apiserver.py).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
