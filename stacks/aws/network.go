package aws

import (
	"fmt"
	"sort"

	awssdk "github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type network struct {
	vpc             *ec2.Vpc
	public, private []*ec2.Subnet
	natGateways     []*ec2.NatGateway
}

// zones picks the first cfg.AZCount availability zones of the region that
// need no opt-in (Local and Wavelength Zones do).
func zones(ctx *pulumi.Context, cfg Config, opt pulumi.ResourceOrInvokeOption) ([]string, error) {
	res, err := awssdk.GetAvailabilityZones(ctx, &awssdk.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		Filters: []awssdk.GetAvailabilityZonesFilter{
			{Name: "opt-in-status", Values: []string{"opt-in-not-required"}},
		},
	}, opt)
	if err != nil {
		return nil, fmt.Errorf("looking up the availability zones of %s: %w", cfg.Region, err)
	}
	names := append([]string(nil), res.Names...)
	sort.Strings(names)
	if len(names) < cfg.AZCount {
		return nil, fmt.Errorf("config azCount: %s has %d availability zones available (%v), fewer than azCount %d; lower azCount", cfg.Region, len(names), names, cfg.AZCount)
	}
	return names[:cfg.AZCount], nil
}

// declareNetwork builds the VPC: per AZ a public subnet (routed to the
// internet gateway) and a private one (routed through a NAT gateway: its
// zone's own, or the single shared one).
func declareNetwork(ctx *pulumi.Context, cfg Config, t tagger, opt pulumi.ResourceOrInvokeOption) (*network, error) {
	azs, err := zones(ctx, cfg, opt)
	if err != nil {
		return nil, err
	}
	publicCIDRs, privateCIDRs, err := SubnetCIDRs(cfg.CIDR, cfg.AZCount)
	if err != nil {
		return nil, err
	}
	n := &network{}
	n.vpc, err = ec2.NewVpc(ctx, "vpc", &ec2.VpcArgs{
		CidrBlock:          pulumi.String(cfg.CIDR.String()),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true), // EKS nodes need DNS hostnames
		Tags:               t.tags("vpc", nil),
	}, opt)
	if err != nil {
		return nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, "igw", &ec2.InternetGatewayArgs{
		VpcId: n.vpc.ID(),
		Tags:  t.tags("igw", nil),
	}, opt)
	if err != nil {
		return nil, err
	}

	// Subnet tags let Kubernetes find them for load balancers.
	clusterTag := "kubernetes.io/cluster/" + cfg.Name
	for i, az := range azs {
		name := fmt.Sprintf("public-%d", i+1)
		public, err := ec2.NewSubnet(ctx, name, &ec2.SubnetArgs{
			VpcId:               n.vpc.ID(),
			AvailabilityZone:    pulumi.String(az),
			CidrBlock:           pulumi.String(publicCIDRs[i].String()),
			MapPublicIpOnLaunch: pulumi.Bool(true),
			Tags:                t.tags(name, map[string]string{clusterTag: "shared", "kubernetes.io/role/elb": "1", "infraflow:tier": "public"}),
		}, opt)
		if err != nil {
			return nil, err
		}
		n.public = append(n.public, public)
		name = fmt.Sprintf("private-%d", i+1)
		private, err := ec2.NewSubnet(ctx, name, &ec2.SubnetArgs{
			VpcId:               n.vpc.ID(),
			AvailabilityZone:    pulumi.String(az),
			CidrBlock:           pulumi.String(privateCIDRs[i].String()),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                t.tags(name, map[string]string{clusterTag: "shared", "kubernetes.io/role/internal-elb": "1", "infraflow:tier": "private"}),
		}, opt)
		if err != nil {
			return nil, err
		}
		n.private = append(n.private, private)
	}

	publicRT, err := ec2.NewRouteTable(ctx, "public", &ec2.RouteTableArgs{
		VpcId: n.vpc.ID(),
		Tags:  t.tags("public", nil),
	}, opt)
	if err != nil {
		return nil, err
	}
	if _, err := ec2.NewRoute(ctx, "public-default", &ec2.RouteArgs{
		RouteTableId:         publicRT.ID(),
		DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
		GatewayId:            igw.ID(),
	}, opt); err != nil {
		return nil, err
	}
	for i, s := range n.public {
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("public-%d", i+1), &ec2.RouteTableAssociationArgs{
			RouteTableId: publicRT.ID(),
			SubnetId:     s.ID(),
		}, opt); err != nil {
			return nil, err
		}
	}

	for i := range cfg.natCount() {
		name := fmt.Sprintf("nat-%d", i+1)
		eip, err := ec2.NewEip(ctx, name, &ec2.EipArgs{
			Domain: pulumi.String("vpc"),
			Tags:   t.tags(name, nil),
		}, opt, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, err
		}
		nat, err := ec2.NewNatGateway(ctx, name, &ec2.NatGatewayArgs{
			AllocationId: eip.AllocationId,
			SubnetId:     n.public[i].ID(),
			Tags:         t.tags(name, nil),
		}, opt, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, err
		}
		n.natGateways = append(n.natGateways, nat)
	}

	// One private route table per AZ either way, so switching between one
	// NAT gateway and one per AZ only changes routes.
	for i, s := range n.private {
		name := fmt.Sprintf("private-%d", i+1)
		rt, err := ec2.NewRouteTable(ctx, name, &ec2.RouteTableArgs{
			VpcId: n.vpc.ID(),
			Tags:  t.tags(name, nil),
		}, opt)
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRoute(ctx, name+"-default", &ec2.RouteArgs{
			RouteTableId:         rt.ID(),
			DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
			NatGatewayId:         n.natGateways[i%len(n.natGateways)].ID(),
		}, opt); err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, name, &ec2.RouteTableAssociationArgs{
			RouteTableId: rt.ID(),
			SubnetId:     s.ID(),
		}, opt); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func subnetIDs(subnets []*ec2.Subnet) pulumi.StringArray {
	var ids pulumi.StringArray
	for _, s := range subnets {
		ids = append(ids, s.ID().ToStringOutput())
	}
	return ids
}
