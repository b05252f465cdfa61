package stackop

import "testing"

func TestWithinPlan(t *testing.T) {
	scale := Change{Op: "update", Type: "kubernetes:apps/v1:Deployment", Name: "web", Diffs: []string{"replicas"},
		Old: map[string]any{"replicas": 3.0}, New: map[string]any{"replicas": 8.0, "image": "nginx:1.27"}}
	service := Change{Op: "create", Type: "kubernetes:core/v1:Service", Name: "web", New: map[string]any{"port": 80.0}}
	same := Change{Op: ChangeSame, Type: "kubernetes:core/v1:Namespace", Name: "web"}
	// The same step seen after a refresh: what it was before differs, the
	// diff keys come in another order.
	scaleAfterRefresh := scale
	scaleAfterRefresh.Old = map[string]any{"replicas": 4.0}
	otherImage := scale
	otherImage.New = map[string]any{"replicas": 8.0, "image": "nginx:1.28"}
	replace := scale
	replace.Op = "replace"

	approved := NewPlan([]Change{same, scale, service})
	cases := []struct {
		name    string
		current []Change
		want    bool
	}{
		{"the same plan", []Change{service, scale, same}, true},
		{"the same steps from another state", []Change{scaleAfterRefresh, service}, true},
		{"some approved steps already ran", []Change{service}, true},
		{"nothing left to do", []Change{same}, true},
		{"other inputs", []Change{otherImage, service}, false},
		{"another step on the resource", []Change{replace, service}, false},
		{"a step nobody approved", []Change{scale, service, {Op: "delete", Type: "kubernetes:core/v1:ConfigMap", Name: "web"}}, false},
		{"an approved step twice", []Change{scale, scale}, false},
	}
	for _, c := range cases {
		if got := WithinPlan(approved, NewPlan(c.current)); got != c.want {
			t.Errorf("%s: WithinPlan = %v, want %v", c.name, got, c.want)
		}
	}
}
