package aws

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/infraflow/infraflow/stacks"
	"github.com/infraflow/infraflow/stacks/stackconfig"
)

// Name is the program's name in stacks.Catalog.
const Name = "aws"

// Config is the program's configuration, checked against stacks.Catalog.
type Config struct {
	Region            string
	AZCount           int
	CIDR              netip.Prefix
	Name              string
	Env, Owner        string
	SingleNatGateway  bool
	KubernetesVersion string
	PublicEndpoint    bool
	InstanceType      string
	DesiredSize       int
	MinSize, MaxSize  int
}

// LoadConfig reads the stack configuration, checked as ProvisionStack checks it.
func LoadConfig(ctx *pulumi.Context) (Config, error) {
	values, err := stackconfig.Load(ctx, Name)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		Region:           values["region"].(string),
		AZCount:          values["azCount"].(int),
		CIDR:             netip.MustParsePrefix(values["cidr"].(string)),
		Name:             "infraflow-" + ctx.Stack(),
		Env:              values["env"].(string),
		SingleNatGateway: values["singleNatGateway"].(bool),
		PublicEndpoint:   values["publicEndpoint"].(bool),
		InstanceType:     values["instanceType"].(string),
		DesiredSize:      values["desiredSize"].(int),
		MinSize:          values["minSize"].(int),
		MaxSize:          values["maxSize"].(int),
	}
	if v, ok := values["name"].(string); ok {
		c.Name = v
	}
	if v, ok := values["owner"].(string); ok {
		c.Owner = v
	}
	if v, ok := values["kubernetesVersion"].(string); ok {
		c.KubernetesVersion = v
	}
	return c, nil
}

// natCount is how many NAT gateways (and Elastic IPs) the VPC gets.
func (c Config) natCount() int {
	if c.SingleNatGateway {
		return 1
	}
	return c.AZCount
}

// SubnetCIDRs lays the subnets out in the VPC: the VPC splits into
// 2^stacks.SubnetBits equal blocks; AZ i gets block i as its public subnet and
// block half+i as its private one, so adding an AZ never moves a subnet.
func SubnetCIDRs(vpc netip.Prefix, azCount int) (public, private []netip.Prefix, err error) {
	blocks := 1 << stacks.SubnetBits
	if azCount < 1 || azCount > blocks/2 {
		return nil, nil, fmt.Errorf("%d availability zones do not fit %d subnet blocks", azCount, blocks)
	}
	bits := vpc.Bits() + stacks.SubnetBits
	if bits > 28 {
		return nil, nil, fmt.Errorf("VPC %s is too small: subnets would be /%d (AWS allows down to /28)", vpc, bits)
	}
	size := uint32(1) << (32 - bits)
	base := vpc.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	block := func(i int) netip.Prefix {
		a := start + uint32(i)*size
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
	}
	for i := range azCount {
		public = append(public, block(i))
		private = append(private, block(blocks/2+i))
	}
	return public, private, nil
}
