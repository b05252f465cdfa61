package aws

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Resource types of the program.
const (
	vpcType        = "aws:ec2/vpc:Vpc"
	subnetType     = "aws:ec2/subnet:Subnet"
	igwType        = "aws:ec2/internetGateway:InternetGateway"
	eipType        = "aws:ec2/eip:Eip"
	natType        = "aws:ec2/natGateway:NatGateway"
	routeTableType = "aws:ec2/routeTable:RouteTable"
	routeType      = "aws:ec2/route:Route"
	assocType      = "aws:ec2/routeTableAssociation:RouteTableAssociation"
	sgType         = "aws:ec2/securityGroup:SecurityGroup"
	ingressType    = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	egressType     = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	roleType       = "aws:iam/role:Role"
	attachType     = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	ltType         = "aws:ec2/launchTemplate:LaunchTemplate"
	clusterType    = "aws:eks/cluster:Cluster"
	nodeGroupType  = "aws:eks/nodeGroup:NodeGroup"
	providerType   = "pulumi:providers:aws"
)

// notTaggable are the program's types that AWS gives no tags.
var notTaggable = []string{routeType, assocType, attachType, providerType}

// run runs the program's declare on the mocks and awaits its outputs.
func run(t *testing.T, config map[string]string, mocks *Mocks) (graph, map[string]internals.UnsafeAwaitOutputResult) {
	t.Helper()
	var outputs pulumi.Map
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		cfg, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		outputs, err = declare(ctx, cfg)
		return err
	}, pulumi.WithMocks(Project, TestStack, mocks), WithConfig(config))
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	resolved := map[string]internals.UnsafeAwaitOutputResult{}
	for name, value := range outputs {
		r, err := internals.UnsafeAwaitOutput(context.Background(), pulumi.ToOutput(value))
		if err != nil || !r.Known {
			t.Fatalf("output %s: %+v %v", name, r, err)
		}
		resolved[name] = r
	}
	return graph(mocks.Registrations()), resolved
}

type graph []Registration

func (g graph) ofType(typ string) []Registration {
	var out []Registration
	for _, r := range g {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (g graph) get(t *testing.T, typ, name string) Registration {
	t.Helper()
	for _, r := range g {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s %q registered", typ, name)
	return Registration{}
}

func (g graph) counts() map[string]int {
	c := map[string]int{}
	for _, r := range g {
		c[r.Type]++
	}
	return c
}

func str(r Registration, path ...string) string {
	v := prop(r.Inputs, path...)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func num(r Registration, path ...string) int {
	v := prop(r.Inputs, path...)
	if v.IsNumber() {
		return int(v.NumberValue())
	}
	return -1
}

func strs(r Registration, path ...string) []string {
	v := prop(r.Inputs, path...)
	if !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		out = append(out, e.StringValue())
	}
	return out
}

func prop(m resource.PropertyMap, path ...string) resource.PropertyValue {
	v := resource.NewObjectProperty(m)
	for _, p := range path {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	return v
}

func tags(r Registration) map[string]string {
	out := map[string]string{}
	v := prop(r.Inputs, "tags")
	if v.IsObject() {
		for k, e := range v.ObjectValue() {
			out[string(k)] = e.StringValue()
		}
	}
	return out
}

func TestSubnetCIDRs(t *testing.T) {
	public, private, err := SubnetCIDRs(netip.MustParsePrefix("10.0.0.0/16"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := prefixes(public); !slices.Equal(got, []string{"10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"}) {
		t.Errorf("public subnets %v", got)
	}
	if got := prefixes(private); !slices.Equal(got, []string{"10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"}) {
		t.Errorf("private subnets %v", got)
	}
	// Adding an AZ keeps the existing subnets where they are.
	public4, private4, _ := SubnetCIDRs(netip.MustParsePrefix("10.0.0.0/16"), 4)
	if !slices.Equal(public4[:3], public) || !slices.Equal(private4[:3], private) {
		t.Errorf("a fourth AZ moved subnets: %v %v", public4, private4)
	}
	public, private, err = SubnetCIDRs(netip.MustParsePrefix("192.168.7.0/24"), 2)
	if err != nil || !slices.Equal(prefixes(public), []string{"192.168.7.0/28", "192.168.7.16/28"}) ||
		!slices.Equal(prefixes(private), []string{"192.168.7.128/28", "192.168.7.144/28"}) {
		t.Errorf("/24: %v %v %v", public, private, err)
	}
	if _, _, err := SubnetCIDRs(netip.MustParsePrefix("10.0.0.0/16"), 9); err == nil {
		t.Error("9 AZs fit 16 blocks of which 8 are public")
	}
	if _, _, err := SubnetCIDRs(netip.MustParsePrefix("10.0.0.0/25"), 2); err == nil {
		t.Error("a /25 VPC gave subnets smaller than /28")
	}
}

func prefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestDefaultsBuildTheWholeGraph(t *testing.T) {
	mocks := NewMocks()
	g, outputs := run(t, map[string]string{"region": "us-east-1"}, mocks)

	want := map[string]int{
		providerType:   1,
		vpcType:        1,
		igwType:        1,
		subnetType:     6, // a public and a private subnet in each of 3 AZs
		eipType:        3, // a NAT gateway and its EIP per AZ
		natType:        3,
		routeTableType: 4, // the public table and one per private subnet,
		routeType:      4, // each with a default route
		assocType:      6, // every subnet associated once
		sgType:         2,
		ingressType:    4,
		egressType:     3,
		roleType:       2,
		attachType:     4, // 1 policy for the cluster role, 3 for the node role
		ltType:         1,
		clusterType:    1,
		nodeGroupType:  1,
	}
	if got := g.counts(); !reflect.DeepEqual(got, want) {
		t.Errorf("resource counts:\n got %v\nwant %v", got, want)
	}

	// Every resource and invoke goes through the explicit provider in the configured region.
	provider := g.ofType(providerType)[0]
	if str(provider, "region") != "us-east-1" {
		t.Errorf("provider region %q", str(provider, "region"))
	}
	providerRef := "urn:pulumi:" + TestStack + "::" + Project + "::pulumi:providers:aws::aws::" + provider.ID
	for _, r := range g {
		if r.Type != providerType && r.Provider != providerRef {
			t.Errorf("%s %s uses provider %q, want %q", r.Type, r.Name, r.Provider, providerRef)
		}
	}
	calls := mocks.Calls()
	if len(calls) != 2 {
		t.Errorf("invokes: %v", calls)
	}
	for _, c := range calls {
		if c.Provider != providerRef {
			t.Errorf("invoke %s uses provider %q", c.Token, c.Provider)
		}
		if c.Token == "aws:index/getAvailabilityZones:getAvailabilityZones" {
			args := c.Args.Mappable()
			filter := map[string]any{"name": "opt-in-status", "values": []any{"opt-in-not-required"}}
			if args["state"] != "available" || !reflect.DeepEqual(args["filters"], []any{filter}) {
				t.Errorf("zones asked for with %v, want available zones that need no opt-in", args)
			}
		}
	}

	checkNetwork(t, g, "10.0.0.0/16", []string{"us-east-1a", "us-east-1b", "us-east-1c"}, 3)
	checkSecurityGroups(t, g)
	checkRoles(t, g)

	cluster := g.ofType(clusterType)[0]
	privateIDs := []string{"subnet-private-1", "subnet-private-2", "subnet-private-3"}
	if got := strs(cluster, "vpcConfig", "subnetIds"); !slices.Equal(got, privateIDs) {
		t.Errorf("cluster subnets %v, want the private ones %v", got, privateIDs)
	}
	if got := strs(cluster, "vpcConfig", "securityGroupIds"); !slices.Equal(got, []string{"sg-cluster"}) {
		t.Errorf("cluster security groups %v", got)
	}
	if str(cluster, "name") != "infraflow-test" || str(cluster, "roleArn") != "arn:aws:iam::123456789012:role/cluster-a1b2c3" {
		t.Errorf("cluster name %q role %q", str(cluster, "name"), str(cluster, "roleArn"))
	}
	if v := prop(cluster.Inputs, "vpcConfig", "endpointPublicAccess"); !v.IsBool() || !v.BoolValue() {
		t.Errorf("public endpoint: %v", v)
	}
	if v := prop(cluster.Inputs, "vpcConfig", "endpointPrivateAccess"); !v.IsBool() || !v.BoolValue() {
		t.Errorf("private endpoint: %v", v)
	}
	if _, ok := cluster.Inputs["version"]; ok {
		t.Errorf("version set without kubernetesVersion: %v", cluster.Inputs["version"])
	}

	nodes := g.ofType(nodeGroupType)[0]
	if got := strs(nodes, "subnetIds"); !slices.Equal(got, privateIDs) {
		t.Errorf("node group subnets %v", got)
	}
	if d, lo, hi := num(nodes, "scalingConfig", "desiredSize"), num(nodes, "scalingConfig", "minSize"), num(nodes, "scalingConfig", "maxSize"); d != 2 || lo != 1 || hi != 3 {
		t.Errorf("node group sizes desired %d min %d max %d, want 2 1 3", d, lo, hi)
	}
	if got := strs(nodes, "instanceTypes"); !slices.Equal(got, []string{"t3.medium"}) {
		t.Errorf("instance types %v", got)
	}
	if str(nodes, "clusterName") != "infraflow-test" || str(nodes, "nodeRoleArn") != "arn:aws:iam::123456789012:role/nodes-a1b2c3" {
		t.Errorf("node group cluster %q role %q", str(nodes, "clusterName"), str(nodes, "nodeRoleArn"))
	}
	if str(nodes, "launchTemplate", "id") != "lt-nodes" || str(nodes, "launchTemplate", "version") != "1" {
		t.Errorf("node group launch template %v", nodes.Inputs["launchTemplate"])
	}
	lt := g.ofType(ltType)[0]
	if got := strs(lt, "vpcSecurityGroupIds"); !slices.Equal(got, []string{"sg-nodes", "sg-eks-cluster-infraflow-test"}) {
		t.Errorf("nodes get security groups %v, want the nodes group and EKS's cluster group", got)
	}
	if str(lt, "metadataOptions", "httpTokens") != "required" {
		t.Errorf("IMDSv2 not required: %v", lt.Inputs["metadataOptions"])
	}
	var kinds []string
	for _, spec := range prop(lt.Inputs, "tagSpecifications").ArrayValue() {
		kind := spec.ObjectValue()["resourceType"].StringValue()
		kinds = append(kinds, kind)
		hasCommonTags(t, "launch template tags for "+kind, tags(Registration{Inputs: spec.ObjectValue()}), "dev", "")
	}
	if !slices.Equal(kinds, []string{"instance", "volume", "network-interface"}) {
		t.Errorf("instances, volumes and ENIs are not all tagged: %v", kinds)
	}

	checkTags(t, g, "infraflow-test", "dev", "")

	// Outputs.
	wantOutputs := map[string]any{
		"region":           "us-east-1",
		"vpcId":            "vpc-vpc",
		"publicSubnetIds":  []any{"subnet-public-1", "subnet-public-2", "subnet-public-3"},
		"privateSubnetIds": []any{"subnet-private-1", "subnet-private-2", "subnet-private-3"},
		"clusterName":      "infraflow-test",
		"clusterEndpoint":  "https://INFRAFLOW-TEST.gr7.us-east-1.eks.amazonaws.com",
		"nodeGroupName":    "nodes-20260101000000000000000001",
	}
	for name, want := range wantOutputs {
		if got := plainJSON(t, outputs[name].Value); !reflect.DeepEqual(got, want) {
			t.Errorf("output %s = %#v, want %#v", name, got, want)
		}
	}
	if len(outputs) != len(wantOutputs)+1 {
		t.Errorf("outputs %v", outputs)
	}
	kc := outputs["kubeconfig"]
	if !kc.Secret {
		t.Error("kubeconfig is not a secret")
	}
	for _, part := range []string{
		"server: https://INFRAFLOW-TEST.gr7.us-east-1.eks.amazonaws.com",
		"certificate-authority-data: dGVzdCBDQQ==",
		"current-context: infraflow-test",
		"args: [eks, get-token, --cluster-name, infraflow-test, --region, us-east-1, --output, json]",
	} {
		if !strings.Contains(kc.Value.(string), part) {
			t.Errorf("kubeconfig lacks %q:\n%s", part, kc.Value)
		}
	}
}

// plainJSON turns an output value (IDs, typed slices) into plain JSON values.
func plainJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNetwork checks subnets, NAT gateways, routes and associations.
func checkNetwork(t *testing.T, g graph, cidr string, azs []string, nats int) {
	t.Helper()
	vpc := g.ofType(vpcType)[0]
	if str(vpc, "cidrBlock") != cidr {
		t.Errorf("VPC CIDR %q, want %q", str(vpc, "cidrBlock"), cidr)
	}
	if v := prop(vpc.Inputs, "enableDnsHostnames"); !v.IsBool() || !v.BoolValue() {
		t.Error("VPC without DNS hostnames")
	}
	vpcPrefix := netip.MustParsePrefix(cidr)
	var seen []netip.Prefix
	tiers := map[string][]string{} // AZ -> tiers
	for _, s := range g.ofType(subnetType) {
		p, err := netip.ParsePrefix(str(s, "cidrBlock"))
		if err != nil {
			t.Fatalf("subnet %s CIDR: %v", s.Name, err)
		}
		if !vpcPrefix.Contains(p.Addr()) || p.Bits() < vpcPrefix.Bits() {
			t.Errorf("subnet %s %s is not inside the VPC %s", s.Name, p, vpcPrefix)
		}
		for _, other := range seen {
			if other.Overlaps(p) {
				t.Errorf("subnet %s %s overlaps %s", s.Name, p, other)
			}
		}
		seen = append(seen, p)
		if str(s, "vpcId") != "vpc-vpc" {
			t.Errorf("subnet %s in VPC %q", s.Name, str(s, "vpcId"))
		}
		public := prop(s.Inputs, "mapPublicIpOnLaunch")
		switch {
		case strings.HasPrefix(s.Name, "public-"):
			if !public.IsBool() || !public.BoolValue() {
				t.Errorf("public subnet %s does not map public IPs", s.Name)
			}
			if tags(s)["kubernetes.io/role/elb"] != "1" {
				t.Errorf("public subnet %s lacks the ELB role tag", s.Name)
			}
		case strings.HasPrefix(s.Name, "private-"):
			if !public.IsBool() || public.BoolValue() {
				t.Errorf("private subnet %s maps public IPs (%v)", s.Name, public)
			}
			if tags(s)["kubernetes.io/role/internal-elb"] != "1" {
				t.Errorf("private subnet %s lacks the internal ELB role tag", s.Name)
			}
		default:
			t.Errorf("subnet %s is neither public nor private", s.Name)
		}
		az := str(s, "availabilityZone")
		tiers[az] = append(tiers[az], strings.SplitN(s.Name, "-", 2)[0])
		// Zone i (in name order) holds subnets public-i and private-i.
		if i := int(s.Name[len(s.Name)-1] - '1'); i < 0 || i >= len(azs) || az != azs[i] {
			t.Errorf("subnet %s in %s, want the zones in order %v", s.Name, az, azs)
		}
	}
	var gotAZs []string
	for az, ts := range tiers {
		gotAZs = append(gotAZs, az)
		sort.Strings(ts)
		if !slices.Equal(ts, []string{"private", "public"}) {
			t.Errorf("AZ %s has subnets %v, want one public and one private", az, ts)
		}
	}
	sort.Strings(gotAZs)
	if !slices.Equal(gotAZs, azs) {
		t.Errorf("subnets in AZs %v, want %v", gotAZs, azs)
	}

	// NAT gateways sit in the public subnets of the first zones, on their own EIPs.
	for i, nat := range g.ofType(natType) {
		if want := "subnet-public-" + string(rune('1'+i)); str(nat, "subnetId") != want {
			t.Errorf("NAT %s in %q, want %q", nat.Name, str(nat, "subnetId"), want)
		}
		if want := "eipalloc-" + nat.Name; str(nat, "allocationId") != want {
			t.Errorf("NAT %s uses EIP %q, want %q", nat.Name, str(nat, "allocationId"), want)
		}
	}
	for _, eip := range g.ofType(eipType) {
		if str(eip, "domain") != "vpc" {
			t.Errorf("EIP %s domain %q", eip.Name, str(eip, "domain"))
		}
	}
	if n := len(g.ofType(natType)); n != nats {
		t.Errorf("%d NAT gateways, want %d", n, nats)
	}

	// Routes: public to the internet gateway, each private table through a NAT
	// gateway (its zone's own when there is one per zone).
	igw := g.ofType(igwType)[0]
	if str(igw, "vpcId") != "vpc-vpc" {
		t.Errorf("internet gateway in %q", str(igw, "vpcId"))
	}
	for _, r := range g.ofType(routeType) {
		if str(r, "destinationCidrBlock") != "0.0.0.0/0" {
			t.Errorf("route %s to %q", r.Name, str(r, "destinationCidrBlock"))
		}
		table := strings.TrimSuffix(r.Name, "-default")
		if str(r, "routeTableId") != table+"-id" {
			t.Errorf("route %s in table %q", r.Name, str(r, "routeTableId"))
		}
		if table == "public" {
			if str(r, "gatewayId") != "igw-id" || str(r, "natGatewayId") != "" {
				t.Errorf("public route %s: gateway %q nat %q", r.Name, str(r, "gatewayId"), str(r, "natGatewayId"))
			}
			continue
		}
		i := int(table[len("private-")] - '1')
		if want := "nat-nat-" + string(rune('1'+i%nats)); str(r, "natGatewayId") != want || str(r, "gatewayId") != "" {
			t.Errorf("private route %s: nat %q (want %q) gateway %q", r.Name, str(r, "natGatewayId"), want, str(r, "gatewayId"))
		}
	}
	associated := map[string]string{}
	for _, a := range g.ofType(assocType) {
		subnet := str(a, "subnetId")
		if prev, dup := associated[subnet]; dup {
			t.Errorf("subnet %s associated with %s and %s", subnet, prev, str(a, "routeTableId"))
		}
		associated[subnet] = str(a, "routeTableId")
	}
	for i := range azs {
		n := string(rune('1' + i))
		if associated["subnet-public-"+n] != "public-id" || associated["subnet-private-"+n] != "private-"+n+"-id" {
			t.Errorf("AZ %s associations: %v", n, associated)
		}
	}
}

// checkSecurityGroups checks that no ingress comes from outside the VPC and
// that the control plane and nodes can reach each other.
func checkSecurityGroups(t *testing.T, g graph) {
	t.Helper()
	type flow struct{ group, peer, proto string }
	var ingress, egress []flow
	for _, r := range g.ofType(ingressType) {
		if cidr := str(r, "cidrIpv4") + str(r, "cidrIpv6"); cidr != "" {
			t.Errorf("ingress rule %s from %s: nothing outside the VPC may come in", r.Name, cidr)
		}
		ingress = append(ingress, flow{str(r, "securityGroupId"), str(r, "referencedSecurityGroupId"), str(r, "ipProtocol")})
	}
	for _, r := range g.ofType(egressType) {
		peer := str(r, "referencedSecurityGroupId")
		if peer == "" {
			peer = str(r, "cidrIpv4")
		}
		egress = append(egress, flow{str(r, "securityGroupId"), peer, str(r, "ipProtocol")})
	}
	for _, f := range []flow{{"sg-cluster", "sg-nodes", "tcp"}, {"sg-nodes", "sg-nodes", "-1"}, {"sg-nodes", "sg-cluster", "tcp"}} {
		if !slices.Contains(ingress, f) {
			t.Errorf("missing ingress %+v in %+v", f, ingress)
		}
	}
	for _, f := range []flow{{"sg-cluster", "sg-nodes", "tcp"}, {"sg-nodes", "0.0.0.0/0", "-1"}} {
		if !slices.Contains(egress, f) {
			t.Errorf("missing egress %+v in %+v", f, egress)
		}
	}
	api := g.get(t, ingressType, "cluster-from-nodes-https")
	if num(api, "fromPort") != 443 || num(api, "toPort") != 443 {
		t.Errorf("API ingress ports %d-%d", num(api, "fromPort"), num(api, "toPort"))
	}
	all := g.get(t, ingressType, "nodes-from-nodes")
	if _, ok := all.Inputs["fromPort"]; ok {
		t.Errorf("an all-protocol rule has ports: %v", all.Inputs)
	}
	for _, sg := range g.ofType(sgType) {
		if str(sg, "vpcId") != "vpc-vpc" {
			t.Errorf("security group %s in %q", sg.Name, str(sg, "vpcId"))
		}
	}
}

func checkRoles(t *testing.T, g graph) {
	t.Helper()
	trust := map[string]string{}
	for _, r := range g.ofType(roleType) {
		var doc struct {
			Statement []struct {
				Effect, Action string
				Principal      struct{ Service string }
			}
		}
		if err := json.Unmarshal([]byte(str(r, "assumeRolePolicy")), &doc); err != nil || len(doc.Statement) != 1 {
			t.Fatalf("role %s trust policy %q: %v", r.Name, str(r, "assumeRolePolicy"), err)
		}
		s := doc.Statement[0]
		if s.Effect != "Allow" || s.Action != "sts:AssumeRole" {
			t.Errorf("role %s trust statement %+v", r.Name, s)
		}
		trust[r.Name] = s.Principal.Service
	}
	if !reflect.DeepEqual(trust, map[string]string{"cluster": "eks.amazonaws.com", "nodes": "ec2.amazonaws.com"}) {
		t.Errorf("role trust %v", trust)
	}
	attached := map[string][]string{}
	for _, a := range g.ofType(attachType) {
		attached[str(a, "role")] = append(attached[str(a, "role")], str(a, "policyArn"))
	}
	want := map[string][]string{
		"cluster-a1b2c3": {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"},
		"nodes-a1b2c3": {"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
			"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
	}
	for role := range attached {
		sort.Strings(attached[role])
	}
	if !reflect.DeepEqual(attached, want) {
		t.Errorf("policy attachments\n got %v\nwant %v", attached, want)
	}
}

// checkTags checks that every taggable resource carries the common tags and
// a Name tag with the prefix.
func checkTags(t *testing.T, g graph, prefix, env, owner string) {
	t.Helper()
	for _, r := range g {
		if slices.Contains(notTaggable, r.Type) {
			if _, ok := r.Inputs["tags"]; ok {
				t.Errorf("%s %s is not taggable but has tags", r.Type, r.Name)
			}
			continue
		}
		tg := tags(r)
		what := r.Type + " " + r.Name
		hasCommonTags(t, what, tg, env, owner)
		if !strings.HasPrefix(tg["Name"], prefix+"-") {
			t.Errorf("%s Name tag %q lacks the prefix %s-", what, tg["Name"], prefix)
		}
	}
}

func hasCommonTags(t *testing.T, what string, tg map[string]string, env, owner string) {
	t.Helper()
	want := map[string]string{"managed-by": "infraflow", "infraflow:stack": "aws/" + TestStack, "env": env}
	if owner != "" {
		want["owner"] = owner
	}
	for k, v := range want {
		if tg[k] != v {
			t.Errorf("%s: tag %s = %q, want %q (tags %v)", what, k, tg[k], v, tg)
		}
	}
	if _, has := tg["owner"]; owner == "" && has {
		t.Errorf("%s: owner tag %q without an owner configured", what, tg["owner"])
	}
}

func TestSingleNatGatewayAndCustomSettings(t *testing.T) {
	config := map[string]string{
		"region": "eu-west-1", "azCount": "2", "cidr": "172.20.0.0/20", "name": "shop",
		"env": "prod", "owner": "team-a", "singleNatGateway": "true", "kubernetesVersion": "1.33",
		"publicEndpoint": "false", "instanceType": "m7g.large", "desiredSize": "4", "minSize": "2", "maxSize": "8",
	}
	g, outputs := run(t, config, NewMocks("eu-west-1a", "eu-west-1b", "eu-west-1c"))
	counts := g.counts()
	for typ, n := range map[string]int{subnetType: 4, natType: 1, eipType: 1, routeTableType: 3, routeType: 3, assocType: 4} {
		if counts[typ] != n {
			t.Errorf("%d of %s, want %d", counts[typ], typ, n)
		}
	}
	checkNetwork(t, g, "172.20.0.0/20", []string{"eu-west-1a", "eu-west-1b"}, 1)
	checkTags(t, g, "shop", "prod", "team-a")

	if str(g.ofType(providerType)[0], "region") != "eu-west-1" {
		t.Error("provider not in eu-west-1")
	}
	cluster := g.ofType(clusterType)[0]
	if str(cluster, "name") != "shop" || str(cluster, "version") != "1.33" {
		t.Errorf("cluster name %q version %q", str(cluster, "name"), str(cluster, "version"))
	}
	if v := prop(cluster.Inputs, "vpcConfig", "endpointPublicAccess"); !v.IsBool() || v.BoolValue() {
		t.Errorf("public endpoint not off: %v", v)
	}
	nodes := g.ofType(nodeGroupType)[0]
	if d, lo, hi := num(nodes, "scalingConfig", "desiredSize"), num(nodes, "scalingConfig", "minSize"), num(nodes, "scalingConfig", "maxSize"); d != 4 || lo != 2 || hi != 8 {
		t.Errorf("node group sizes desired %d min %d max %d, want 4 2 8", d, lo, hi)
	}
	if got := strs(nodes, "instanceTypes"); !slices.Equal(got, []string{"m7g.large"}) {
		t.Errorf("instance types %v", got)
	}
	for _, s := range g.ofType(subnetType) {
		if tags(s)["kubernetes.io/cluster/shop"] != "shared" {
			t.Errorf("subnet %s lacks the cluster tag: %v", s.Name, tags(s))
		}
	}
	if tags(g.get(t, sgType, "nodes"))["kubernetes.io/cluster/shop"] != "owned" {
		t.Error("nodes security group lacks the owned cluster tag")
	}
	if outputs["clusterName"].Value != "shop" || !strings.Contains(outputs["kubeconfig"].Value.(string), "--region, eu-west-1") {
		t.Errorf("outputs %v", outputs)
	}
}

func TestConfigRefusals(t *testing.T) {
	cases := []struct {
		name   string
		config map[string]string
		zones  []string
		want   string
	}{
		{"no region", map[string]string{}, nil, `config "region": is required`},
		{"bad region", map[string]string{"region": "Ireland"}, nil, `config "region": "Ireland" is not an AWS region name`},
		{"too many AZs", map[string]string{"region": "us-east-1", "azCount": "7"}, nil, `config "azCount": is 7, above the maximum 6`},
		{"one AZ", map[string]string{"region": "us-east-1", "azCount": "1"}, nil, `config "azCount": is 1, below the minimum 2`},
		{"AZ count not a number", map[string]string{"region": "us-east-1", "azCount": "three"}, nil, `config "azCount": got "three", want integer`},
		{"boolean not a boolean", map[string]string{"region": "us-east-1", "singleNatGateway": "maybe"}, nil, `config "singleNatGateway": got "maybe", want boolean`},
		{"VPC too small", map[string]string{"region": "us-east-1", "cidr": "10.0.0.0/25"}, nil, `config "cidr": /25 is outside /16 to /24`},
		{"VPC too large", map[string]string{"region": "us-east-1", "cidr": "10.0.0.0/8"}, nil, `config "cidr": /8 is outside /16 to /24`},
		{"host bits", map[string]string{"region": "us-east-1", "cidr": "10.0.1.0/16"}, nil, `use the network address 10.0.0.0/16`},
		{"IPv6", map[string]string{"region": "us-east-1", "cidr": "fd00::/56"}, nil, `config "cidr": "fd00::/56" is not an IPv4 CIDR`},
		{"bad cluster name", map[string]string{"region": "us-east-1", "name": "my cluster"}, nil, `config "name": "my cluster" is not a valid EKS cluster name`},
		{"bad instance type", map[string]string{"region": "us-east-1", "instanceType": "large"}, nil, `config "instanceType": "large" is not an EC2 instance type`},
		{"bad version", map[string]string{"region": "us-east-1", "kubernetesVersion": "latest"}, nil, `config "kubernetesVersion"`},
		{"min above max", map[string]string{"region": "us-east-1", "minSize": "5", "maxSize": "3", "desiredSize": "3"}, nil, `config "minSize": is 5, above maxSize 3`},
		{"desired above max", map[string]string{"region": "us-east-1", "desiredSize": "4"}, nil, `config "desiredSize": is 4, outside minSize..maxSize (1..3)`},
		{"region too small", map[string]string{"region": "us-east-1"}, []string{"us-east-1a", "us-east-1b"}, "us-east-1 has 2 availability zones available ([us-east-1a us-east-1b]), fewer than azCount 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mocks := NewMocks(c.zones...)
			err := RunProgram(c.config, mocks)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			for _, r := range mocks.Registrations() {
				if r.Type != providerType {
					t.Errorf("%s %s was registered although the configuration is refused", r.Type, r.Name)
				}
			}
		})
	}
}
