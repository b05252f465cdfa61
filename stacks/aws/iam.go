package aws

import (
	"encoding/json"
	"fmt"

	awssdk "github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Managed policies the EKS roles get (AWS's standard set).
var (
	ClusterPolicies = []string{"AmazonEKSClusterPolicy"}
	NodePolicies    = []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}
)

type roles struct {
	cluster, nodes *iam.Role
	// attachments must exist before the cluster or node group uses the
	// role, and outlive it on delete.
	clusterAttachments, nodeAttachments []pulumi.Resource
}

func declareRoles(ctx *pulumi.Context, cfg Config, t tagger, opt pulumi.ResourceOrInvokeOption) (*roles, error) {
	// Policy ARNs name the partition (aws, aws-cn, aws-us-gov).
	partition, err := awssdk.GetPartition(ctx, &awssdk.GetPartitionArgs{}, opt)
	if err != nil {
		return nil, fmt.Errorf("looking up the AWS partition of %s: %w", cfg.Region, err)
	}
	r := &roles{}
	r.cluster, r.clusterAttachments, err = role(ctx, "cluster", "eks.amazonaws.com", partition.Partition, ClusterPolicies, t, opt)
	if err != nil {
		return nil, err
	}
	r.nodes, r.nodeAttachments, err = role(ctx, "nodes", "ec2.amazonaws.com", partition.Partition, NodePolicies, t, opt)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// role creates a role the service may assume and attaches managed policies.
func role(ctx *pulumi.Context, name, service, partition string, policies []string, t tagger, opt pulumi.ResourceOrInvokeOption) (*iam.Role, []pulumi.Resource, error) {
	trust, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": service},
			"Action":    "sts:AssumeRole",
		}},
	})
	if err != nil {
		return nil, nil, err
	}
	// Role names are global to the account: Pulumi adds a random suffix.
	r, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(string(trust)),
		Description:      pulumi.String(fmt.Sprintf("EKS %s role of %s (managed by infraflow)", name, t.prefix)),
		Tags:             t.tags(name+"-role", nil),
	}, opt)
	if err != nil {
		return nil, nil, err
	}
	var attachments []pulumi.Resource
	for _, p := range policies {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-"+p, &iam.RolePolicyAttachmentArgs{
			Role:      r.Name,
			PolicyArn: pulumi.String(fmt.Sprintf("arn:%s:iam::aws:policy/%s", partition, p)),
		}, opt)
		if err != nil {
			return nil, nil, err
		}
		attachments = append(attachments, a)
	}
	return r, attachments, nil
}
