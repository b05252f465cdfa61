package aws

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type cluster struct {
	cluster    *eks.Cluster
	nodeGroup  *eks.NodeGroup
	kubeconfig pulumi.StringOutput
}

// declareCluster creates the EKS cluster in the private subnets and a managed
// node group there. The nodes start from a launch template so that they get
// the nodes security group (beside EKS's own cluster security group, which
// EKS no longer adds once a template names groups), IMDSv2 only, and the
// common tags on the instances and their volumes.
func declareCluster(ctx *pulumi.Context, cfg Config, n *network, sg *securityGroups, r *roles, t tagger, opt pulumi.ResourceOrInvokeOption) (*cluster, error) {
	args := &eks.ClusterArgs{
		Name:    pulumi.String(cfg.Name),
		RoleArn: r.cluster.Arn,
		VpcConfig: eks.ClusterVpcConfigArgs{
			SubnetIds:             subnetIDs(n.private),
			SecurityGroupIds:      pulumi.StringArray{sg.cluster.ID()},
			EndpointPrivateAccess: pulumi.Bool(true),
			EndpointPublicAccess:  pulumi.Bool(cfg.PublicEndpoint),
		},
		// Access entries (API) as well as the aws-auth ConfigMap; whoever
		// runs the stack starts as cluster admin.
		AccessConfig: eks.ClusterAccessConfigArgs{
			AuthenticationMode:                      pulumi.String("API_AND_CONFIG_MAP"),
			BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		Tags: t.tags("cluster", nil),
	}
	if cfg.KubernetesVersion != "" {
		args.Version = pulumi.String(cfg.KubernetesVersion)
	}
	c := &cluster{}
	var err error
	c.cluster, err = eks.NewCluster(ctx, "cluster", args, opt, pulumi.DependsOn(r.clusterAttachments))
	if err != nil {
		return nil, err
	}

	instanceTags := func(kind string) ec2.LaunchTemplateTagSpecificationArgs {
		return ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String(kind), Tags: t.tags("node", nil)}
	}
	template, err := ec2.NewLaunchTemplate(ctx, "nodes", &ec2.LaunchTemplateArgs{
		Description: pulumi.String("EKS nodes of " + cfg.Name + " (managed by infraflow)"),
		VpcSecurityGroupIds: pulumi.StringArray{
			sg.nodes.ID().ToStringOutput(),
			c.cluster.VpcConfig.ClusterSecurityGroupId().Elem(),
		},
		MetadataOptions: ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(2), // pods reach IMDS through one more hop
		},
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			instanceTags("instance"), instanceTags("volume"), instanceTags("network-interface"),
		},
		UpdateDefaultVersion: pulumi.Bool(true),
		Tags:                 t.tags("nodes", nil),
	}, opt)
	if err != nil {
		return nil, err
	}

	c.nodeGroup, err = eks.NewNodeGroup(ctx, "nodes", &eks.NodeGroupArgs{
		ClusterName:         c.cluster.Name,
		NodeGroupNamePrefix: pulumi.String("nodes-"), // node group names are per cluster
		NodeRoleArn:         r.nodes.Arn,
		SubnetIds:           subnetIDs(n.private),
		InstanceTypes:       pulumi.ToStringArray([]string{cfg.InstanceType}),
		ScalingConfig: eks.NodeGroupScalingConfigArgs{
			DesiredSize: pulumi.Int(cfg.DesiredSize),
			MinSize:     pulumi.Int(cfg.MinSize),
			MaxSize:     pulumi.Int(cfg.MaxSize),
		},
		UpdateConfig: eks.NodeGroupUpdateConfigArgs{MaxUnavailable: pulumi.Int(1)},
		LaunchTemplate: eks.NodeGroupLaunchTemplateArgs{
			Id:      template.ID().ToStringOutput(),
			Version: template.LatestVersion.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		},
		Tags: t.tags("nodes", nil),
	}, opt, pulumi.DependsOn(r.nodeAttachments))
	if err != nil {
		return nil, err
	}

	c.kubeconfig = pulumi.ToSecret(pulumi.All(c.cluster.Name, c.cluster.Endpoint, c.cluster.CertificateAuthority.Data().Elem()).ApplyT(
		func(v []any) string { return Kubeconfig(v[0].(string), v[1].(string), v[2].(string), cfg.Region) },
	)).(pulumi.StringOutput)
	return c, nil
}

// Kubeconfig is a kubeconfig for the cluster that authenticates with
// `aws eks get-token` (the AWS CLI and credentials of whoever uses it).
func Kubeconfig(name, endpoint, caData, region string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: %[1]s
    cluster:
      server: %[2]s
      certificate-authority-data: %[3]s
contexts:
  - name: %[1]s
    context:
      cluster: %[1]s
      user: %[1]s
current-context: %[1]s
users:
  - name: %[1]s
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        command: aws
        args: [eks, get-token, --cluster-name, %[1]s, --region, %[4]s, --output, json]
`, name, endpoint, caData, region)
}
