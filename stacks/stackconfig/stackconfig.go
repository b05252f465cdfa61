// Package stackconfig reads a program's Pulumi stack configuration
// (<project>:<key>) and checks it with stacks.Catalog, so a run outside the
// workflow (pulumi up, tests) gets the same defaults and refusals as
// ProvisionStack.
package stackconfig

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/infraflow/infraflow/stacks"
)

// Load returns the program's configuration with defaults filled in.
func Load(ctx *pulumi.Context, program string) (map[string]any, error) {
	p, ok := stacks.Lookup(program)
	if !ok {
		return nil, fmt.Errorf("the catalog has no %s program", program)
	}
	cfg := config.New(ctx, "")
	return p.ResolveText(func(key string) (string, bool) {
		v, err := cfg.Try(key)
		return v, err == nil
	})
}
