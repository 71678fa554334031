//go:build tools

// Package tools pins etcd v3.7.4, the store of the test control plane (tests/harness/kube.py).
// The root of go.etcd.io/etcd/server/v3 is itself package main (the etcd command); its own
// go.mod has replace lines, which count only in its own repository, so it is built from this
// wrapper: `go build go.etcd.io/etcd/server/v3` (make kube-bins).
package tools

import _ "go.etcd.io/etcd/server/v3"
