// Package stacks lists infraflow's Pulumi programs and the configuration each
// accepts. It imports no Pulumi code, so workflows can validate a request
// against it before anything runs; the programs live in the subpackages.
package stacks

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ConfigType is the JSON type a configuration value must have.
type ConfigType string

// Configuration value types.
const (
	String  ConfigType = "string"
	Integer ConfigType = "integer"
	Boolean ConfigType = "boolean"
)

// ConfigKey describes one configuration value of a program.
type ConfigKey struct {
	Name     string
	Type     ConfigType
	Required bool
	Default  any
	Help     string
	// Min and Max bound integers (inclusive) when set.
	Min, Max *int
}

// Program is one Pulumi program infraflow can provision.
type Program struct {
	Name    string
	Summary string
	Config  []ConfigKey
	// Check, when set, checks the resolved configuration as a whole (values
	// that depend on each other, formats); it runs after the per-key checks
	// and must be deterministic, since workflows call it.
	Check func(config map[string]any) error
}

func atLeast(n int) *int { return &n }
func atMost(n int) *int  { return &n }

// Catalog lists every program.
func Catalog() []Program {
	return slices.Clone(catalog)
}

// catalog is this release's catalog. Workflows record the configuration they
// resolved from it when they begin, so a release that changes it changes only
// the runs that begin after it (tests/testdata/nextrelease tightens it).
var catalog = []Program{
	{
		Name:    "local",
		Summary: "an app in the local Kubernetes control plane (namespace, Deployment, Service) and SSH hosts on loopback",
		Config: []ConfigKey{
			{Name: "app", Type: String, Default: "web", Help: "app name: Deployment, Service and pod label app=<name>"},
			{Name: "namespace", Type: String, Default: "infraflow-demo", Help: "Kubernetes namespace"},
			{Name: "image", Type: String, Required: true, Help: "container image with a pinned tag, e.g. nginx:1.27"},
			{Name: "replicas", Type: Integer, Default: 2, Min: atLeast(0), Help: "Deployment replicas"},
			{Name: "port", Type: Integer, Default: 80, Min: atLeast(1), Help: "container and Service port"},
			{Name: "hosts", Type: Integer, Default: 0, Min: atLeast(0), Help: "number of SSH hosts on loopback"},
			{Name: "failOnPurpose", Type: Boolean, Default: false, Help: "make the Service fail to apply (to exercise compensation)"},
		},
	},
	{
		Name:    "aws",
		Summary: "an EKS cluster with a managed node group in a VPC of its own: public and private subnets per availability zone, NAT, security groups, IAM roles",
		Config: []ConfigKey{
			{Name: "region", Type: String, Required: true, Help: "AWS region, e.g. eu-west-1"},
			{Name: "azCount", Type: Integer, Default: 3, Min: atLeast(2), Max: atMost(6), Help: "availability zones to spread the VPC and nodes over (EKS needs at least 2)"},
			{Name: "cidr", Type: String, Default: "10.0.0.0/16", Help: "VPC IPv4 CIDR, /16 to /24; each subnet gets 1/16 of it"},
			{Name: "name", Type: String, Help: "EKS cluster name and name prefix of the other resources (default infraflow-<stack>)"},
			{Name: "env", Type: String, Default: "dev", Help: "value of the env tag on every resource"},
			{Name: "owner", Type: String, Help: "value of the owner tag on every resource (left out when unset)"},
			{Name: "singleNatGateway", Type: Boolean, Default: false, Help: "one NAT gateway for all private subnets (cheaper, one AZ's outage cuts egress) instead of one per AZ"},
			{Name: "kubernetesVersion", Type: String, Help: "EKS Kubernetes version, e.g. 1.33 (default: EKS's current default)"},
			{Name: "publicEndpoint", Type: Boolean, Default: true, Help: "expose the Kubernetes API endpoint publicly as well as inside the VPC"},
			{Name: "instanceType", Type: String, Default: "t3.medium", Help: "EC2 instance type of the nodes"},
			{Name: "desiredSize", Type: Integer, Default: 2, Min: atLeast(0), Help: "nodes to run now (between minSize and maxSize)"},
			{Name: "minSize", Type: Integer, Default: 1, Min: atLeast(0), Help: "fewest nodes of the node group"},
			{Name: "maxSize", Type: Integer, Default: 3, Min: atLeast(1), Help: "most nodes of the node group"},
		},
		Check: checkAWS,
	},
	{
		Name:    "kubernetes",
		Summary: "an app in any Kubernetes cluster: namespace, Deployment, Service, HorizontalPodAutoscaler (CPU) and PodDisruptionBudget",
		Config: []ConfigKey{
			{Name: "app", Type: String, Default: "web", Help: "app name: Deployment, Service, HPA, PDB and pod label app=<name>"},
			{Name: "namespace", Type: String, Default: "infraflow-apps", Help: "Kubernetes namespace, created by the stack"},
			{Name: "image", Type: String, Required: true, Help: "container image with a pinned tag, e.g. nginx:1.27"},
			{Name: "replicas", Type: Integer, Default: 2, Min: atLeast(1), Help: "Deployment replicas to start with (between minReplicas and maxReplicas)"},
			{Name: "port", Type: Integer, Default: 80, Min: atLeast(1), Max: atMost(65535), Help: "container and Service port"},
			{Name: "minReplicas", Type: Integer, Default: 2, Min: atLeast(1), Help: "fewest replicas the HPA scales to"},
			{Name: "maxReplicas", Type: Integer, Default: 5, Min: atLeast(1), Help: "most replicas the HPA scales to"},
			{Name: "cpuTargetPercent", Type: Integer, Default: 70, Min: atLeast(1), Max: atMost(100), Help: "average CPU utilisation the HPA aims for, in percent of the CPU request"},
			{Name: "minAvailable", Type: Integer, Default: 1, Min: atLeast(0), Help: "pods the PodDisruptionBudget keeps during voluntary disruptions (below minReplicas)"},
			{Name: "cpuRequest", Type: String, Default: "100m", Help: "container CPU request (the HPA's utilisation is relative to it)"},
			{Name: "memoryRequest", Type: String, Default: "128Mi", Help: "container memory request"},
			{Name: "kubeconfig", Type: String, Help: "kubeconfig path or contents for the provider (default: the worker's KUBECONFIG or ~/.kube/config)"},
			{Name: "context", Type: String, Help: "kubeconfig context to use (default: the current context)"},
		},
		Check: checkKubernetes,
	},
}

// Lookup finds a program by name.
func Lookup(name string) (Program, bool) {
	for _, p := range Catalog() {
		if p.Name == name {
			return p, true
		}
	}
	return Program{}, false
}

// Names lists the programs, sorted.
func Names() []string {
	var names []string
	for _, p := range Catalog() {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// ResolveExisting checks config for an operation on a stack that already
// exists and whose program does not run (destroy): required keys may be
// left out.
func (p Program) ResolveExisting(config map[string]any) (map[string]any, error) {
	lenient := p
	lenient.Config = nil
	for _, k := range p.Config {
		k.Required = false
		lenient.Config = append(lenient.Config, k)
	}
	return lenient.Resolve(config)
}

// ConfigError names the configuration key that is wrong and the fix.
type ConfigError struct {
	Key, Problem, Fix string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config %q: %s; %s", e.Key, e.Problem, e.Fix)
}

// Resolve checks config against the program and fills defaults. JSON numbers
// arrive as float64; integers must be whole.
func (p Program) Resolve(config map[string]any) (map[string]any, error) {
	known := map[string]ConfigKey{}
	var names []string
	for _, k := range p.Config {
		known[k.Name] = k
		names = append(names, k.Name)
	}
	sort.Strings(names)
	// Unknown keys are looked for in name order, so the same input always
	// names the same key (this runs in workflows, which must replay alike).
	given := make([]string, 0, len(config))
	// Collected, then sorted: the map's order does not matter.
	//workflowcheck:ignore
	for key := range config {
		given = append(given, key)
	}
	sort.Strings(given)
	for _, key := range given {
		if _, ok := known[key]; !ok {
			return nil, &ConfigError{Key: key, Problem: fmt.Sprintf("is not a setting of the %s program", p.Name), Fix: "known keys: " + strings.Join(names, ", ")}
		}
	}
	out := map[string]any{}
	for _, k := range p.Config {
		v, ok := config[k.Name]
		if !ok {
			if k.Required {
				return nil, &ConfigError{Key: k.Name, Problem: "is required", Fix: fmt.Sprintf("set it (%s: %s)", k.Type, k.Help)}
			}
			if k.Default != nil {
				out[k.Name] = k.Default
			}
			continue
		}
		checked, err := k.check(v)
		if err != nil {
			return nil, err
		}
		out[k.Name] = checked
	}
	if p.Check != nil {
		if err := p.Check(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ResolveText is Resolve for values that arrive as text, as a Pulumi program
// reads its stack configuration: lookup returns a key's value and whether it
// is set. Integers and booleans are parsed first; unset keys get defaults.
func (p Program) ResolveText(lookup func(key string) (string, bool)) (map[string]any, error) {
	config := map[string]any{}
	for _, k := range p.Config {
		text, ok := lookup(k.Name)
		if !ok {
			continue
		}
		switch k.Type {
		case Integer:
			n, err := strconv.Atoi(strings.TrimSpace(text))
			if err != nil {
				return nil, &ConfigError{Key: k.Name, Problem: fmt.Sprintf("got %q, want integer", text), Fix: k.Help}
			}
			config[k.Name] = n
		case Boolean:
			b, err := strconv.ParseBool(strings.TrimSpace(text))
			if err != nil {
				return nil, &ConfigError{Key: k.Name, Problem: fmt.Sprintf("got %q, want boolean", text), Fix: k.Help}
			}
			config[k.Name] = b
		default:
			config[k.Name] = text
		}
	}
	return p.Resolve(config)
}

func (k ConfigKey) check(v any) (any, error) {
	wrong := func(got string) error {
		return &ConfigError{Key: k.Name, Problem: fmt.Sprintf("got %s, want %s", got, k.Type), Fix: k.Help}
	}
	switch k.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, wrong(jsonKindOf(v))
		}
		return s, nil
	case Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, wrong(jsonKindOf(v))
		}
		return b, nil
	case Integer:
		var n int
		switch x := v.(type) {
		case float64:
			if x != float64(int(x)) {
				return nil, wrong(fmt.Sprintf("the fraction %v", x))
			}
			n = int(x)
		case int:
			n = x
		default:
			return nil, wrong(jsonKindOf(v))
		}
		if k.Min != nil && n < *k.Min {
			return nil, &ConfigError{Key: k.Name, Problem: fmt.Sprintf("is %d, below the minimum %d", n, *k.Min), Fix: k.Help}
		}
		if k.Max != nil && n > *k.Max {
			return nil, &ConfigError{Key: k.Name, Problem: fmt.Sprintf("is %d, above the maximum %d", n, *k.Max), Fix: k.Help}
		}
		return n, nil
	}
	return nil, fmt.Errorf("config key %s has unknown type %s", k.Name, k.Type)
}

func jsonKindOf(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}
