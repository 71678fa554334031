// Command pulumi-resource-kubernetes is the Pulumi kubernetes provider, built from the pinned
// github.com/pulumi/pulumi-kubernetes/provider/v4 module (go.mod, go.sum). The module's own
// command (cmd/pulumi-resource-kubernetes) embeds schema-embed.json and
// terraform-mapping-embed.json, which its `go generate` writes and the module zip lacks: make
// pulumi-kubernetes copies this file, go.mod and go.sum to a build directory under .cache,
// writes both files there with the module's own generate.go from the schema and mapping it
// ships, and builds this main, which is the module's main, unchanged but for where it lives.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

var providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
