package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/policy"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks/aws"
)

// plan runs the program on the mocks and turns what it registered into the
// changes a first preview reports: one "create" per resource, providers left
// out, as pulumistack's preview does.
func plan(t *testing.T, config map[string]string) []stackop.Change {
	t.Helper()
	mocks := aws.NewMocks()
	if err := aws.RunProgram(config, mocks); err != nil {
		t.Fatalf("program failed: %v", err)
	}
	var changes []stackop.Change
	for _, r := range mocks.Registrations() {
		if strings.HasPrefix(r.Type, "pulumi:providers:") {
			continue
		}
		changes = append(changes, stackop.Change{Op: "create", Type: r.Type, Name: r.Name, New: r.Plain()})
	}
	return changes
}

// decide evaluates the repository's policies on changes, with the input the
// ProvisionStack workflow gives the CheckPolicy activity.
func decide(t *testing.T, operation string, changes []stackop.Change) stackop.PolicyDecision {
	t.Helper()
	d, err := policy.Evaluate(context.Background(), stackop.PolicyInput{
		Program: aws.Name, Stack: aws.TestStack, Operation: operation, Changes: changes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func expect(t *testing.T, d stackop.PolicyDecision, outcome string, messages ...string) {
	t.Helper()
	if d.Outcome != outcome {
		t.Errorf("outcome %s, want %s (%+v)", d.Outcome, outcome, d)
	}
	all := append(append([]string{}, d.Deny...), d.RequireApproval...)
	if len(all) != len(messages) {
		t.Errorf("messages %q, want %d", all, len(messages))
	}
	for _, m := range messages {
		found := false
		for _, got := range all {
			found = found || strings.Contains(got, m)
		}
		if !found {
			t.Errorf("no message contains %q: %q", m, all)
		}
	}
}

func TestPoliciesAllowTheDefaultStack(t *testing.T) {
	changes := plan(t, map[string]string{"region": "us-east-1"})
	if len(changes) != 46 {
		t.Fatalf("%d planned creates, want 46", len(changes))
	}
	expect(t, decide(t, stackop.OpUp, changes), stackop.PolicyAllow)
}

func TestPoliciesAskApprovalForALargeNodeGroup(t *testing.T) {
	changes := plan(t, map[string]string{"region": "us-east-1", "maxSize": "20"})
	expect(t, decide(t, stackop.OpUp, changes), stackop.PolicyRequireApproval,
		"EKS node group nodes may grow to 20 nodes (more than 10 needs approval)")
}

func TestPoliciesAskApprovalToDeleteTheCluster(t *testing.T) {
	// Destroying the stack: every resource is deleted. Only the cluster needs a person.
	var deletes []stackop.Change
	for _, c := range plan(t, map[string]string{"region": "us-east-1"}) {
		deletes = append(deletes, stackop.Change{Op: "delete", Type: c.Type, Name: c.Name, Old: c.New})
	}
	expect(t, decide(t, stackop.OpDestroy, deletes), stackop.PolicyRequireApproval,
		"EKS cluster cluster would be deleted: deleting a cluster needs approval, even in a destroy")
}

func TestPoliciesDenyUntaggedResources(t *testing.T) {
	changes := plan(t, map[string]string{"region": "us-east-1"})
	for i, c := range changes {
		if c.Type == "aws:ec2/natGateway:NatGateway" && c.Name == "nat-2" {
			tags := map[string]any{}
			for k, v := range c.New["tags"].(map[string]any) {
				if k != "managed-by" {
					tags[k] = v
				}
			}
			changes[i].New["tags"] = tags
		}
		if c.Type == "aws:eks/nodeGroup:NodeGroup" {
			delete(changes[i].New, "tags")
		}
	}
	expect(t, decide(t, stackop.OpUp, changes), stackop.PolicyDeny,
		"aws:ec2/natGateway:NatGateway nat-2 has no managed-by tag",
		"aws:eks/nodeGroup:NodeGroup nodes has no managed-by tag")
}

func TestPoliciesOnIngressFromTheInternet(t *testing.T) {
	rule := func(name, proto string, from, to int, cidr string) stackop.Change {
		return stackop.Change{Op: "create", Type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", Name: name, New: map[string]any{
			"securityGroupId": "sg-nodes", "ipProtocol": proto, "fromPort": from, "toPort": to, "cidrIpv4": cidr,
			"tags": map[string]any{"managed-by": "infraflow"},
		}}
	}
	base := plan(t, map[string]string{"region": "us-east-1"})
	// HTTPS and HTTP from anywhere are fine.
	web := append(append([]stackop.Change{}, base...), rule("https", "tcp", 443, 443, "0.0.0.0/0"), rule("http", "tcp", 80, 80, "0.0.0.0/0"))
	expect(t, decide(t, stackop.OpUp, web), stackop.PolicyAllow)
	// SSH from anywhere, or everything from anywhere, is not; SSH from the VPC is.
	open := append(append([]stackop.Change{}, base...),
		rule("ssh", "tcp", 22, 22, "0.0.0.0/0"), rule("wide", "-1", 0, 0, "0.0.0.0/0"), rule("ssh-inside", "tcp", 22, 22, "10.0.0.0/16"))
	expect(t, decide(t, stackop.OpUp, open), stackop.PolicyDeny,
		"SecurityGroupIngressRule ssh lets 0.0.0.0/0 in on tcp port 22: only ports 80 and 443 may be open to the internet",
		"SecurityGroupIngressRule wide lets 0.0.0.0/0 in on every protocol and port")
}
