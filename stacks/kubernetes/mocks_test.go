package kubernetes

import (
	"fmt"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Exported for the external tests (policy_test.go) as well.

// Project and TestStack are the names the tests run the program under; the
// project is the one pulumistack.Env.Open gives the kubernetes program.
const (
	Project   = "infraflow-kubernetes"
	TestStack = "test"
)

// Registration is one resource the program registered.
type Registration struct {
	Type, Name string
	Inputs     resource.PropertyMap
	Provider   string
	ID         string
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

// Mocks stand in for the kubernetes provider: they answer registrations with
// the inputs plus what the API server would fill in, and record them.
type Mocks struct {
	mu   sync.Mutex
	regs []Registration
}

func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	state := args.Inputs.Copy()
	id := args.Name
	if meta := args.Inputs["metadata"]; meta.IsObject() {
		if ns := meta.ObjectValue()["namespace"]; ns.IsString() {
			id = ns.StringValue() + "/" + id
		}
	}
	if args.TypeToken == "kubernetes:core/v1:Service" {
		spec := state["spec"].ObjectValue().Copy()
		spec["clusterIP"] = resource.NewPropertyValue("10.96.12.34")
		state["spec"] = resource.NewObjectProperty(spec)
	}
	m.mu.Lock()
	m.regs = append(m.regs, Registration{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs, Provider: args.Provider, ID: id})
	m.mu.Unlock()
	return id, state, nil
}

func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("the program makes no invokes, but called %s", args.Token)
}

// Registrations returns what was registered, in order.
func (m *Mocks) Registrations() []Registration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Registration(nil), m.regs...)
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
