// Command pulumi-resource-infraflow is the provider of the local stack: real
// Kubernetes objects in the local control plane and SSH-reachable hosts on
// loopback, managed outside Pulumi's state so refresh and drift are real.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/infraflow/infraflow/stacks/local/provider/config"
	"github.com/infraflow/infraflow/stacks/local/provider/kubernetes"
	"github.com/infraflow/infraflow/stacks/local/provider/ssh"
)

// Version is set by `make tools` from internal/toolchain/versions.env.
var Version = "0.0.0-dev"

func main() {
	provider, err := infer.NewProviderBuilder().
		WithNamespace("infraflow").
		WithDisplayName("infraflow local").
		WithDescription("Kubernetes objects in the local control plane and SSH hosts on loopback, for infraflow's local stack.").
		WithConfig(infer.Config(&config.Config{})).
		WithResources(
			infer.Resource(&kubernetes.Namespace{}),
			infer.Resource(&kubernetes.Deployment{}),
			infer.Resource(&kubernetes.Service{}),
			infer.Resource(&ssh.Host{}),
		).
		Build()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the provider: %v\n", err)
		os.Exit(1)
	}
	if err := provider.Run(context.Background(), "infraflow", Version); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
}
