//go:build tools

// Package engine pins the Pulumi CLI's main package in go.mod, so `go build` of it resolves from this module.
package engine

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
