//go:build tools

// Package tools pins KWOK v0.8.0, which plays the kubelet of a fake node for the test control
// plane (tests/harness/kube.py). The stage definitions it needs (node, pod and volume
// lifecycles) ship in the same module under kustomize/stage/; make kube-bins copies them out
// of the module cache into .cache/kwok-stages/.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
