package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/stackop"
)

// The aws and kubernetes programs' own plans are checked against the
// policies in their packages' tests; these cases cover the declarations
// those programs do not make (inline security group rules, the legacy rule
// resource, IPv6, other workloads).

var managed = map[string]any{"managed-by": "infraflow"}

func TestCloudPoliciesDecide(t *testing.T) {
	inlineSG := func(proto string, from, to int, cidrs ...any) map[string]any {
		return map[string]any{"op": "create", "type": "aws:ec2/securityGroup:SecurityGroup", "name": "web",
			"new": map[string]any{"tags": managed, "ingress": []any{map[string]any{
				"protocol": proto, "fromPort": from, "toPort": to, "cidrBlocks": cidrs}}}}
	}
	legacyRule := func(kind string, from, to int, v6 ...any) map[string]any {
		return map[string]any{"op": "update", "type": "aws:ec2/securityGroupRule:SecurityGroupRule", "name": "rule",
			"new": map[string]any{"type": kind, "protocol": "tcp", "fromPort": from, "toPort": to, "ipv6CidrBlocks": v6}}
	}
	statefulSet := map[string]any{"op": "create", "type": "kubernetes:apps/v1:StatefulSet", "name": "db",
		"new": map[string]any{"spec": map[string]any{"replicas": 1, "template": map[string]any{"spec": map[string]any{
			"initContainers": []any{map[string]any{"name": "init", "image": "busybox"}},
			"containers":     []any{map[string]any{"name": "db", "image": "postgres:16"}},
		}}}}}
	bucket := map[string]any{"op": "create", "type": "aws:s3/bucketV2:BucketV2", "name": "logs", "new": map[string]any{}}
	unlisted := map[string]any{"op": "create", "type": "aws:sqs/queue:Queue", "name": "jobs", "new": map[string]any{"tags": map[string]any{"env": "dev"}}}
	cluster := func(op string) map[string]any {
		return map[string]any{"op": op, "type": "aws:eks/cluster:Cluster", "name": "main", "old": map[string]any{"tags": managed}, "new": map[string]any{"tags": managed}}
	}
	cases := []struct {
		name      string
		operation string
		changes   []any
		outcome   string
		message   string
	}{
		{"inline HTTPS from anywhere", "up", []any{inlineSG("tcp", 443, 443, "0.0.0.0/0")}, stackop.PolicyAllow, ""},
		{"inline SSH from the office", "up", []any{inlineSG("tcp", 22, 22, "203.0.113.0/24")}, stackop.PolicyAllow, ""},
		{"inline port range from anywhere", "up", []any{inlineSG("tcp", 80, 443, "0.0.0.0/0")}, stackop.PolicyDeny, "aws:ec2/securityGroup:SecurityGroup web lets 0.0.0.0/0 in on tcp ports 80-443"},
		{"inline UDP 443 from anywhere", "up", []any{inlineSG("udp", 443, 443, "10.0.0.0/8", "0.0.0.0/0")}, stackop.PolicyDeny, "on udp port 443"},
		{"legacy rule IPv6 SSH", "up", []any{legacyRule("ingress", 22, 22, "::/0")}, stackop.PolicyDeny, "aws:ec2/securityGroupRule:SecurityGroupRule rule lets ::/0 in on tcp port 22"},
		{"legacy egress rule", "up", []any{legacyRule("egress", 0, 65535, "::/0")}, stackop.PolicyAllow, ""},
		{"untagged image in an init container", "up", []any{statefulSet}, stackop.PolicyDeny, "container init uses busybox (no tag, so :latest)"},
		{"listed type without tags", "up", []any{bucket}, stackop.PolicyDeny, "aws:s3/bucketV2:BucketV2 logs has no managed-by tag"},
		{"unlisted type with tags but not managed-by", "up", []any{unlisted}, stackop.PolicyDeny, "aws:sqs/queue:Queue jobs has no managed-by tag"},
		{"cluster deleted in a destroy", "destroy", []any{cluster("delete")}, stackop.PolicyRequireApproval, "EKS cluster main would be deleted"},
		{"cluster replaced in an up", "up", []any{cluster("replace")}, stackop.PolicyRequireApproval, "EKS cluster main would be replaced"},
		{"cluster updated", "up", []any{cluster("update")}, stackop.PolicyAllow, ""},
	}
	for _, c := range cases {
		d, err := Evaluate(context.Background(), map[string]any{"operation": c.operation, "changes": c.changes})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		all := strings.Join(append(d.Deny, d.RequireApproval...), "\n")
		if d.Outcome != c.outcome || !strings.Contains(all, c.message) || (c.message == "" && all != "") {
			t.Errorf("%s: %+v, want %s with %q", c.name, d, c.outcome, c.message)
		}
	}
}
