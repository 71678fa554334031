//go:build tools

// Package tools pins the Kubernetes control plane the tests run (tests/harness/kube.py):
// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.37.2, from the
// k8s.io/kubernetes module. That module's go.mod points its 33 staging modules at
// ./staging/src/..., which a dependent cannot use: each replace below points one of them at
// the published k8s.io/<name> v0.37.2 instead. etcd and KWOK have their own modules
// (etcd/, kwok/) so each builds against exactly the dependencies its own go.mod names.
// `make kube-bins` builds all of them into .cache/bin, stamping the version.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
