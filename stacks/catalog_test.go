package stacks

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// required is the least configuration each program accepts.
var required = map[string]map[string]any{
	"local":      {"image": "nginx:1.27"},
	"aws":        {"region": "us-east-1"},
	"kubernetes": {"image": "nginx:1.27"},
}

func TestCatalogIsConsistent(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"aws", "kubernetes", "local"}) {
		t.Errorf("programs %v", got)
	}
	for _, p := range Catalog() {
		seen := map[string]bool{}
		for _, k := range p.Config {
			if seen[k.Name] {
				t.Errorf("%s: key %s twice", p.Name, k.Name)
			}
			seen[k.Name] = true
			if k.Help == "" {
				t.Errorf("%s: key %s has no help", p.Name, k.Name)
			}
			if k.Required && k.Default != nil {
				t.Errorf("%s: key %s is required and has a default", p.Name, k.Name)
			}
			if k.Default != nil {
				if _, err := k.check(k.Default); err != nil {
					t.Errorf("%s: default of %s fails its own check: %v", p.Name, k.Name, err)
				}
			}
		}
		// The defaults, with only the required keys set, pass the whole-config check.
		if _, err := p.Resolve(required[p.Name]); err != nil {
			t.Errorf("%s: the defaults are refused: %v", p.Name, err)
		}
	}
}

func TestLocalResolvesAsBefore(t *testing.T) {
	p, _ := Lookup("local")
	got, err := p.Resolve(map[string]any{"image": "nginx:1.27", "replicas": float64(3)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"app": "web", "namespace": "infraflow-demo", "image": "nginx:1.27", "replicas": 3, "port": 80, "hosts": 0, "failOnPurpose": false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := p.Resolve(map[string]any{"image": "nginx:1.27", "port": float64(70000)}); err != nil {
		t.Errorf("local has no maximum port, got %v", err)
	}
}

func TestResolveRefusals(t *testing.T) {
	cases := []struct {
		program string
		config  map[string]any
		key     string
		problem string
	}{
		{"aws", map[string]any{"region": "us-east-1", "azCount": float64(7)}, "azCount", "is 7, above the maximum 6"},
		{"aws", map[string]any{"region": "us-east-1", "cidr": "10.0.0.0/12"}, "cidr", "/12 is outside /16 to /24"},
		{"aws", map[string]any{"region": "us-east-1", "desiredSize": float64(0), "minSize": float64(1)}, "desiredSize", "outside minSize..maxSize"},
		{"aws", map[string]any{"region": "us-east-1", "owner": ""}, "owner", "must be 1 to 256 characters"},
		{"aws", map[string]any{"region": "us-east-1", "zone": "a"}, "zone", "is not a setting of the aws program"},
		{"kubernetes", map[string]any{"image": "nginx:1.27", "replicas": float64(1)}, "replicas", "outside minReplicas..maxReplicas (2..5)"},
		{"kubernetes", map[string]any{"image": "nginx:1.27", "minReplicas": float64(1)}, "minAvailable", "is 1, not below minReplicas 1"},
		{"kubernetes", map[string]any{"image": "nginx:1.27", "port": float64(0)}, "port", "is 0, below the minimum 1"},
	}
	for _, c := range cases {
		p, _ := Lookup(c.program)
		_, err := p.Resolve(c.config)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Problem, c.problem) || ce.Fix == "" {
			t.Errorf("%s %v: got %v, want a ConfigError on %s: %s", c.program, c.config, err, c.key, c.problem)
		}
	}
}

func TestResolveText(t *testing.T) {
	p, _ := Lookup("aws")
	text := map[string]string{"region": "eu-west-1", "azCount": " 2", "singleNatGateway": "true", "name": "shop"}
	got, err := p.ResolveText(func(k string) (string, bool) { v, ok := text[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if got["azCount"] != 2 || got["singleNatGateway"] != true || got["name"] != "shop" || got["cidr"] != "10.0.0.0/16" || got["maxSize"] != 3 {
		t.Errorf("resolved %v", got)
	}
	if _, ok := got["owner"]; ok {
		t.Errorf("owner set without a default: %v", got["owner"])
	}
	for key, value := range map[string]string{"azCount": "2.0", "publicEndpoint": "yes"} {
		bad := map[string]string{"region": "eu-west-1", key: value}
		_, err := p.ResolveText(func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != key {
			t.Errorf("%s=%q: %v", key, value, err)
		}
	}
}
