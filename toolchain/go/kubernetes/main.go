// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider from its Go module.
//
// The upstream command embeds files that its repository generates and git-ignores, so `go install` of it
// cannot work; toolchain/build.py writes those files next to this one before `go build`.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
