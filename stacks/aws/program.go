// Package aws is infraflow's EKS stack, written with the official pulumi-aws
// SDK: a VPC over several availability zones (a public and a private subnet
// per zone, an internet gateway, NAT gateways, route tables), security groups
// for the cluster and its nodes, IAM roles, an EKS cluster in the private
// subnets and a managed node group. Every taggable resource carries the
// common tags (managed-by, infraflow:stack, env, owner).
//
// It needs the aws provider plugin to run; here it is unit-tested with
// Pulumi's mocks.
package aws

import (
	"maps"

	awssdk "github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program declares the stack from its configuration.
func Program(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	outputs, err := declare(ctx, cfg)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// declare creates the resources and returns the stack outputs.
func declare(ctx *pulumi.Context, cfg Config) (pulumi.Map, error) {
	// An explicit provider: the region comes from the program's own
	// configuration, and a change of region replaces everything visibly.
	provider, err := awssdk.NewProvider(ctx, "aws", &awssdk.ProviderArgs{Region: pulumi.String(cfg.Region)})
	if err != nil {
		return nil, err
	}
	opt := pulumi.Provider(provider)
	t := newTagger(ctx, cfg)

	net, err := declareNetwork(ctx, cfg, t, opt)
	if err != nil {
		return nil, err
	}
	sg, err := declareSecurityGroups(ctx, cfg, net.vpc, t, opt)
	if err != nil {
		return nil, err
	}
	roles, err := declareRoles(ctx, cfg, t, opt)
	if err != nil {
		return nil, err
	}
	eks, err := declareCluster(ctx, cfg, net, sg, roles, t, opt)
	if err != nil {
		return nil, err
	}
	return pulumi.Map{
		"region":           pulumi.String(cfg.Region),
		"vpcId":            net.vpc.ID(),
		"publicSubnetIds":  subnetIDs(net.public),
		"privateSubnetIds": subnetIDs(net.private),
		"clusterName":      eks.cluster.Name,
		"clusterEndpoint":  eks.cluster.Endpoint,
		"kubeconfig":       eks.kubeconfig,
		"nodeGroupName":    eks.nodeGroup.NodeGroupName,
	}, nil
}

// tagger merges the common tags into every taggable resource's tags.
type tagger struct {
	prefix string
	common map[string]string
}

func newTagger(ctx *pulumi.Context, cfg Config) tagger {
	common := map[string]string{
		"managed-by":      "infraflow",
		"infraflow:stack": Name + "/" + ctx.Stack(),
		"env":             cfg.Env,
	}
	if cfg.Owner != "" {
		common["owner"] = cfg.Owner
	}
	return tagger{prefix: cfg.Name, common: common}
}

// tags is the tag set of one resource: a Name tag (<prefix>-<name>), any
// extra tags, and the common tags, which win over both.
func (t tagger) tags(name string, extra map[string]string) pulumi.StringMap {
	all := map[string]string{"Name": t.prefix + "-" + name}
	maps.Copy(all, extra)
	maps.Copy(all, t.common)
	return pulumi.ToStringMap(all)
}
