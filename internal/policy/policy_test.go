package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/stackop"
)

func deployment(op string, replicas int, image string) map[string]any {
	return map[string]any{"op": op, "type": "infraflow:kubernetes:Deployment", "name": "web",
		"new": map[string]any{"replicas": replicas, "image": image}}
}

func TestPoliciesDecide(t *testing.T) {
	protectedNS := map[string]any{"op": "delete", "type": "infraflow:kubernetes:Namespace", "name": "prod",
		"old": map[string]any{"labels": map[string]any{"infraflow.io/protected": "true"}}}
	plainNSDelete := map[string]any{"op": "delete", "type": "infraflow:kubernetes:Namespace", "name": "scratch",
		"old": map[string]any{"labels": map[string]any{}}}
	cases := []struct {
		name      string
		operation string
		changes   []any
		outcome   string
		message   string
	}{
		{"small change", "up", []any{deployment("update", 3, "nginx:1.27")}, stackop.PolicyAllow, ""},
		{"scale past the threshold", "up", []any{deployment("update", 6, "nginx:1.27")}, stackop.PolicyRequireApproval, "deployment web scales to 6 replicas (more than 5 needs approval)"},
		{"unpinned image", "up", []any{deployment("create", 1, "nginx:latest")}, stackop.PolicyDeny, "deployment web uses nginx:latest: pin an image tag"},
		{"protected namespace", "destroy", []any{protectedNS}, stackop.PolicyDeny, "namespace prod is protected"},
		{"delete during up", "up", []any{plainNSDelete}, stackop.PolicyRequireApproval, "infraflow:kubernetes:Namespace scratch would be deleted"},
		{"destroy asked for", "destroy", []any{plainNSDelete}, stackop.PolicyAllow, ""},
	}
	for _, c := range cases {
		d, err := Evaluate(context.Background(), map[string]any{"operation": c.operation, "changes": c.changes})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		all := strings.Join(append(d.Deny, d.RequireApproval...), "\n")
		if d.Outcome != c.outcome || !strings.Contains(all, c.message) {
			t.Errorf("%s: %+v, want %s with %q", c.name, d, c.outcome, c.message)
		}
	}
}
