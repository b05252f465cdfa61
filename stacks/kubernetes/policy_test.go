package kubernetes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/policy"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks/kubernetes"
)

// decide runs the program on the mocks, turns what it registered into the
// changes a first preview reports (one "create" per resource, providers left
// out, as pulumistack's preview does) and evaluates the repository's policies
// on them with the input the ProvisionStack workflow gives CheckPolicy.
func decide(t *testing.T, config map[string]string) stackop.PolicyDecision {
	t.Helper()
	mocks := &kubernetes.Mocks{}
	if err := kubernetes.RunProgram(config, mocks); err != nil {
		t.Fatalf("program failed: %v", err)
	}
	var changes []stackop.Change
	for _, r := range mocks.Registrations() {
		if strings.HasPrefix(r.Type, "pulumi:providers:") {
			continue
		}
		changes = append(changes, stackop.Change{Op: "create", Type: r.Type, Name: r.Name, New: r.Plain()})
	}
	if len(changes) != 5 {
		t.Fatalf("%d planned creates, want 5", len(changes))
	}
	d, err := policy.Evaluate(context.Background(), stackop.PolicyInput{
		Program: kubernetes.Name, Stack: kubernetes.TestStack, Operation: stackop.OpUp, Changes: changes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPolicies(t *testing.T) {
	cases := []struct {
		name     string
		config   map[string]string
		outcome  string
		messages []string
	}{
		{"pinned tag", map[string]string{"image": "nginx:1.27"}, stackop.PolicyAllow, nil},
		{"pinned digest", map[string]string{"image": "registry.example.com:5000/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, stackop.PolicyAllow, nil},
		{"five replicas", map[string]string{"image": "nginx:1.27", "replicas": "5"}, stackop.PolicyAllow, nil},
		{"latest", map[string]string{"image": "nginx:latest"}, stackop.PolicyDeny, []string{
			"kubernetes:apps/v1:Deployment web: container web uses nginx:latest (tagged :latest): pin an image tag, not :latest",
		}},
		{"no tag", map[string]string{"image": "registry.example.com:5000/web"}, stackop.PolicyDeny, []string{
			"container web uses registry.example.com:5000/web (no tag, so :latest)",
		}},
		{"ten replicas", map[string]string{"image": "nginx:1.27", "replicas": "10", "maxReplicas": "10"}, stackop.PolicyRequireApproval, []string{
			"kubernetes:apps/v1:Deployment web scales to 10 replicas (more than 5 needs approval)",
			"kubernetes:autoscaling/v2:HorizontalPodAutoscaler web may scale to 10 replicas (more than 5 needs approval)",
		}},
		{"room to autoscale", map[string]string{"image": "nginx:1.27", "maxReplicas": "8"}, stackop.PolicyRequireApproval, []string{
			"HorizontalPodAutoscaler web may scale to 8 replicas",
		}},
		{"latest and many", map[string]string{"image": "nginx:latest", "replicas": "10", "maxReplicas": "10"}, stackop.PolicyDeny, []string{
			"uses nginx:latest", "scales to 10 replicas", "may scale to 10 replicas",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide(t, c.config)
			if d.Outcome != c.outcome {
				t.Errorf("outcome %s, want %s (%+v)", d.Outcome, c.outcome, d)
			}
			all := append(append([]string{}, d.Deny...), d.RequireApproval...)
			if len(all) != len(c.messages) {
				t.Errorf("messages %q, want %d", all, len(c.messages))
			}
			for _, m := range c.messages {
				if !strings.Contains(strings.Join(all, "\n"), m) {
					t.Errorf("no message contains %q: %q", m, all)
				}
			}
		})
	}
}
