//go:build tools

// Package tools pins the Pulumi CLI that the tests run (not the one `make up` uses: that
// is the user's own, on PATH). go.mod + go.sum pin it and every dependency; `make pulumi`
// builds it into .cache/bin/pulumi. Why v3.274.0: the Go module proxy serves no v3.272.0 of
// pkg/v3 (the version of the pulumi Python SDK in infra/requirements.txt); 3.274.0 is the
// nearest it serves.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
