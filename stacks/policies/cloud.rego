# Policies for the aws (pulumi-aws) and kubernetes (pulumi-kubernetes)
# programs, in the same package and on the same input as provision.rego:
# input.changes: [{op, type, name, diffs, old, new}], where new/old are the
# resource inputs as the preview reports them.
package infraflow.provision

import rego.v1

# An EKS node group allowed to grow past this many nodes needs approval.
max_node_group_size_without_approval := 10

# Workloads whose pod template is at spec.template.spec.
workload_types := {
	"kubernetes:apps/v1:Deployment",
	"kubernetes:apps/v1:StatefulSet",
	"kubernetes:apps/v1:DaemonSet",
}

hpa_types := {
	"kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
	"kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
}

# AWS resource types that take a tags map: the ones the aws program creates
# and other common ones. Any other aws resource that declares tags is held
# to the same rule.
taggable_aws_types := {
	"aws:ec2/vpc:Vpc",
	"aws:ec2/subnet:Subnet",
	"aws:ec2/internetGateway:InternetGateway",
	"aws:ec2/eip:Eip",
	"aws:ec2/natGateway:NatGateway",
	"aws:ec2/routeTable:RouteTable",
	"aws:ec2/securityGroup:SecurityGroup",
	"aws:ec2/launchTemplate:LaunchTemplate",
	"aws:ec2/instance:Instance",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
	"aws:iam/role:Role",
	"aws:eks/cluster:Cluster",
	"aws:eks/nodeGroup:NodeGroup",
	"aws:s3/bucket:Bucket",
	"aws:s3/bucketV2:BucketV2",
	"aws:rds/instance:Instance",
	"aws:lb/loadBalancer:LoadBalancer",
}

# Only these ports may be open to the whole internet.
public_ports := {80, 443}

open_cidrs := {"0.0.0.0/0", "::/0"}

applying(c) if c.op in {"create", "update", "replace"}

# --- Kubernetes -------------------------------------------------------------

deny contains msg if {
	some c in input.changes
	c.type in workload_types
	applying(c)
	some kind in ["containers", "initContainers"]
	some container in c.new.spec.template.spec[kind]
	problem := unpinned(container.image)
	msg := sprintf("%s %s: container %s uses %s %s: pin an image tag, not :latest", [c.type, c.name, container.name, container.image, problem])
}

# An image is pinned by a digest or a tag other than latest; no tag means latest.
unpinned(image) := "(tagged :latest)" if endswith(image, ":latest")

unpinned(image) := "(no tag, so :latest)" if {
	not contains(image, "@")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}

require_approval contains msg if {
	some c in input.changes
	c.type in workload_types
	applying(c)
	c.new.spec.replicas > max_replicas_without_approval
	msg := sprintf("%s %s scales to %d replicas (more than %d needs approval)", [c.type, c.name, c.new.spec.replicas, max_replicas_without_approval])
}

require_approval contains msg if {
	some c in input.changes
	c.type in hpa_types
	applying(c)
	c.new.spec.maxReplicas > max_replicas_without_approval
	msg := sprintf("%s %s may scale to %d replicas (more than %d needs approval)", [c.type, c.name, c.new.spec.maxReplicas, max_replicas_without_approval])
}

# --- AWS --------------------------------------------------------------------

deny contains msg if {
	some c in input.changes
	applying(c)
	untagged(c)
	msg := sprintf("%s %s has no managed-by tag: every taggable AWS resource carries infraflow's common tags", [c.type, c.name])
}

untagged(c) if {
	c.type in taggable_aws_types
	not c.new.tags["managed-by"]
}

untagged(c) if {
	startswith(c.type, "aws:")
	is_object(c.new.tags)
	not c.new.tags["managed-by"]
}

deny contains msg if {
	some r in internet_ingress
	not public_port(r)
	msg := sprintf("%s %s lets %s in on %s: only ports 80 and 443 may be open to the internet", [r.type, r.name, r.cidr, ports_text(r)])
}

# Ingress from anywhere, whichever way pulumi-aws declares it: a rule
# resource (vpc.SecurityGroupIngressRule, ec2.SecurityGroupRule) or a
# security group's inline ingress blocks.
internet_ingress contains rule(c, c.new.ipProtocol, c.new, cidr) if {
	some c in input.changes
	c.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	applying(c)
	some key in ["cidrIpv4", "cidrIpv6"]
	cidr := c.new[key]
	cidr in open_cidrs
}

internet_ingress contains rule(c, c.new.protocol, c.new, cidr) if {
	some c in input.changes
	c.type == "aws:ec2/securityGroupRule:SecurityGroupRule"
	applying(c)
	c.new.type == "ingress"
	some key in ["cidrBlocks", "ipv6CidrBlocks"]
	some cidr in c.new[key]
	cidr in open_cidrs
}

internet_ingress contains rule(c, block.protocol, block, cidr) if {
	some c in input.changes
	c.type == "aws:ec2/securityGroup:SecurityGroup"
	applying(c)
	some block in c.new.ingress
	some key in ["cidrBlocks", "ipv6CidrBlocks"]
	some cidr in block[key]
	cidr in open_cidrs
}

rule(c, protocol, ports, cidr) := {
	"type": c.type,
	"name": c.name,
	"protocol": lower(sprintf("%v", [protocol])),
	"from": object.get(ports, "fromPort", -1),
	"to": object.get(ports, "toPort", -1),
	"cidr": cidr,
}

all_protocols := {"-1", "all"}

public_port(r) if {
	r.protocol in {"tcp", "6"}
	r.from == r.to
	r.from in public_ports
}

ports_text(r) := "every protocol and port" if r.protocol in all_protocols

ports_text(r) := sprintf("%s port %v", [r.protocol, r.from]) if {
	not r.protocol in all_protocols
	r.from == r.to
}

ports_text(r) := sprintf("%s ports %v-%v", [r.protocol, r.from, r.to]) if {
	not r.protocol in all_protocols
	r.from != r.to
}

require_approval contains msg if {
	some c in input.changes
	c.type == "aws:eks/nodeGroup:NodeGroup"
	applying(c)
	c.new.scalingConfig.maxSize > max_node_group_size_without_approval
	msg := sprintf("EKS node group %s may grow to %d nodes (more than %d needs approval)", [c.name, c.new.scalingConfig.maxSize, max_node_group_size_without_approval])
}

# Deleting a cluster takes every workload on it along: a person approves,
# even when the stack's destroy was asked for.
require_approval contains msg if {
	some c in input.changes
	c.type == "aws:eks/cluster:Cluster"
	c.op in {"delete", "replace"}
	msg := sprintf("EKS cluster %s would be %sd: deleting a cluster needs approval, even in a destroy", [c.name, c.op])
}
