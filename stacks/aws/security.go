package aws

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type securityGroups struct {
	cluster, nodes *ec2.SecurityGroup
}

// rule is one security group rule; peer is a security group, or a CIDR when
// cidr is set. Protocol "-1" means every protocol and port.
type rule struct {
	name, description string
	ingress           bool
	group             *ec2.SecurityGroup
	protocol          string
	from, to          int
	peer              *ec2.SecurityGroup
	cidr              string
}

// declareSecurityGroups creates the cluster's and the nodes' groups with the
// least the control plane and nodes need to talk: nodes reach the API on 443,
// the control plane reaches kubelets and webhooks on 443 and 1025-65535,
// nodes talk to each other freely and reach out (through NAT) anywhere. No
// ingress comes from outside the VPC. EKS adds its own cluster security
// group, which the launch template puts on the nodes too.
func declareSecurityGroups(ctx *pulumi.Context, cfg Config, v *ec2.Vpc, t tagger, opt pulumi.ResourceOrInvokeOption) (*securityGroups, error) {
	var err error
	sg := &securityGroups{}
	sg.cluster, err = ec2.NewSecurityGroup(ctx, "cluster", &ec2.SecurityGroupArgs{
		VpcId:       v.ID(),
		Description: pulumi.String("EKS control plane of " + cfg.Name + " (managed by infraflow)"),
		Tags:        t.tags("cluster", nil),
	}, opt)
	if err != nil {
		return nil, err
	}
	sg.nodes, err = ec2.NewSecurityGroup(ctx, "nodes", &ec2.SecurityGroupArgs{
		VpcId:       v.ID(),
		Description: pulumi.String("EKS nodes of " + cfg.Name + " (managed by infraflow)"),
		Tags:        t.tags("nodes", map[string]string{"kubernetes.io/cluster/" + cfg.Name: "owned"}),
	}, opt)
	if err != nil {
		return nil, err
	}
	rules := []rule{
		{name: "cluster-from-nodes-https", description: "nodes to the Kubernetes API", ingress: true, group: sg.cluster, protocol: "tcp", from: 443, to: 443, peer: sg.nodes},
		{name: "cluster-to-nodes-https", description: "control plane to webhooks on nodes", group: sg.cluster, protocol: "tcp", from: 443, to: 443, peer: sg.nodes},
		{name: "cluster-to-nodes-kubelet", description: "control plane to kubelets and pods", group: sg.cluster, protocol: "tcp", from: 1025, to: 65535, peer: sg.nodes},
		{name: "nodes-from-nodes", description: "node to node, all protocols", ingress: true, group: sg.nodes, protocol: "-1", peer: sg.nodes},
		{name: "nodes-from-cluster-https", description: "control plane to webhooks on nodes", ingress: true, group: sg.nodes, protocol: "tcp", from: 443, to: 443, peer: sg.cluster},
		{name: "nodes-from-cluster-kubelet", description: "control plane to kubelets and pods", ingress: true, group: sg.nodes, protocol: "tcp", from: 1025, to: 65535, peer: sg.cluster},
		{name: "nodes-to-anywhere", description: "nodes out to the internet through NAT (images, AWS APIs)", group: sg.nodes, protocol: "-1", cidr: "0.0.0.0/0"},
	}
	for _, r := range rules {
		if err := r.declare(ctx, t, opt); err != nil {
			return nil, err
		}
	}
	return sg, nil
}

func (r rule) declare(ctx *pulumi.Context, t tagger, opt pulumi.ResourceOrInvokeOption) error {
	var from, to pulumi.IntPtrInput
	if r.protocol != "-1" { // all-protocol rules take no ports
		from, to = pulumi.Int(r.from), pulumi.Int(r.to)
	}
	var peer, cidr pulumi.StringPtrInput
	if r.cidr != "" {
		cidr = pulumi.String(r.cidr)
	} else {
		peer = r.peer.ID()
	}
	if r.ingress {
		_, err := vpc.NewSecurityGroupIngressRule(ctx, r.name, &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: r.group.ID(), Description: pulumi.String(r.description),
			IpProtocol: pulumi.String(r.protocol), FromPort: from, ToPort: to,
			ReferencedSecurityGroupId: peer, CidrIpv4: cidr,
			Tags: t.tags(r.name, nil),
		}, opt)
		return err
	}
	_, err := vpc.NewSecurityGroupEgressRule(ctx, r.name, &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: r.group.ID(), Description: pulumi.String(r.description),
		IpProtocol: pulumi.String(r.protocol), FromPort: from, ToPort: to,
		ReferencedSecurityGroupId: peer, CidrIpv4: cidr,
		Tags: t.tags(r.name, nil),
	}, opt)
	return err
}
