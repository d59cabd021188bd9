//go:build tools

// Package tools pins the MinIO server module so `go build github.com/minio/minio`
// resolves it from this module's go.mod/go.sum (see localplatform/minio.py).
package tools

import _ "github.com/minio/minio"
