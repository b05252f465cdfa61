// Package stacks lists infraflow's Pulumi programs and the configuration each
// accepts. It imports no Pulumi code, so workflows can validate a request
// against it before anything runs; the programs live in the subpackages.
package stacks

import (
	"fmt"
	"sort"
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
	// Min bounds integers (inclusive) when set.
	Min *int
}

// Program is one Pulumi program infraflow can provision.
type Program struct {
	Name    string
	Summary string
	Config  []ConfigKey
}

func atLeast(n int) *int { return &n }

// Catalog lists every program.
func Catalog() []Program {
	return []Program{
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
	}
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
	for key := range config {
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
	return out, nil
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
