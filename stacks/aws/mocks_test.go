package aws

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Exported for the external tests (policy_test.go) as well.

// Project and TestStack are the names the tests run the program under; the
// project is the one pulumistack.Env.Open gives the aws program.
const (
	Project   = "infraflow-aws"
	TestStack = "test"
)

// Registration is one resource the program registered.
type Registration struct {
	Type, Name string
	Inputs     resource.PropertyMap
	// Provider is the provider reference (urn::id) the resource was bound to.
	Provider string
	// ID is the ID the mocks gave it.
	ID string
}

// Plain is the registration's inputs as plain JSON-shaped values, the way
// the engine's preview events show them: secrets as "[secret]".
func (r Registration) Plain() map[string]any {
	return r.Inputs.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
		if v.IsSecret() {
			return "[secret]", true
		}
		return nil, false
	})
}

// Mocks stand in for the aws provider: they answer registrations with the
// inputs plus the outputs AWS would compute, answer the two invokes the
// program makes, and record everything.
type Mocks struct {
	// Zones are the availability zones getAvailabilityZones reports.
	Zones []string

	mu    sync.Mutex
	regs  []Registration
	calls []pulumi.MockCallArgs
}

// NewMocks reports four zones in us-east-1 unless told otherwise.
func NewMocks(zones ...string) *Mocks {
	if len(zones) == 0 {
		zones = []string{"us-east-1d", "us-east-1b", "us-east-1a", "us-east-1c"} // unsorted on purpose
	}
	return &Mocks{Zones: zones}
}

func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id := strings.ReplaceAll(args.Name, "/", "-") + "-id"
	state := args.Inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	switch args.TypeToken {
	case "aws:ec2/vpc:Vpc":
		id = "vpc-" + args.Name
	case "aws:ec2/subnet:Subnet":
		id = "subnet-" + args.Name
	case "aws:ec2/securityGroup:SecurityGroup":
		id = "sg-" + args.Name
	case "aws:ec2/eip:Eip":
		set("allocationId", "eipalloc-"+args.Name)
	case "aws:ec2/natGateway:NatGateway":
		id = "nat-" + args.Name
	case "aws:ec2/launchTemplate:LaunchTemplate":
		id = "lt-" + args.Name
		set("latestVersion", 1)
	case "aws:iam/role:Role":
		set("name", args.Name+"-a1b2c3")
		set("arn", "arn:aws:iam::123456789012:role/"+args.Name+"-a1b2c3")
	case "aws:eks/cluster:Cluster":
		name := args.Inputs["name"].StringValue()
		set("arn", "arn:aws:eks:us-east-1:123456789012:cluster/"+name)
		set("endpoint", "https://"+strings.ToUpper(name)+".gr7.us-east-1.eks.amazonaws.com")
		set("certificateAuthority", map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("test CA"))})
		vpc := args.Inputs["vpcConfig"].ObjectValue().Copy()
		vpc["clusterSecurityGroupId"] = resource.NewPropertyValue("sg-eks-cluster-" + name)
		state["vpcConfig"] = resource.NewObjectProperty(vpc)
	case "aws:eks/nodeGroup:NodeGroup":
		set("nodeGroupName", args.Inputs["nodeGroupNamePrefix"].StringValue()+"20260101000000000000000001")
	}
	m.mu.Lock()
	m.regs = append(m.regs, Registration{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Provider: args.Provider, ID: id})
	m.mu.Unlock()
	return id, state, nil
}

func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args)
	m.mu.Unlock()
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		var ids []string
		for i := range m.Zones {
			ids = append(ids, fmt.Sprintf("use1-az%d", i+1))
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": "us-east-1", "names": m.Zones, "zoneIds": ids, "state": "available",
		}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
		}), nil
	}
	return nil, fmt.Errorf("the mocks do not know the invoke %s", args.Token)
}

// Registrations returns what was registered, in order.
func (m *Mocks) Registrations() []Registration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Registration(nil), m.regs...)
}

// Calls returns the invokes made.
func (m *Mocks) Calls() []pulumi.MockCallArgs {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]pulumi.MockCallArgs(nil), m.calls...)
}

// WithConfig sets the stack configuration (keys without the project).
func WithConfig(config map[string]string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = map[string]string{}
		for k, v := range config {
			info.Config[Project+":"+k] = v
		}
	}
}

// RunProgram runs Program on the mocks with config.
func RunProgram(config map[string]string, mocks *Mocks) error {
	return pulumi.RunErr(Program, pulumi.WithMocks(Project, TestStack, mocks), WithConfig(config))
}
