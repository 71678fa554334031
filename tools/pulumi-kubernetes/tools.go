//go:build tools

// The module's generate.go (run at build time, see main.go) needs Pulumi's schema package:
// importing it here keeps it, and its checksums, in go.mod and go.sum.
package main

import _ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
