package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Whole-configuration checks of the programs (Program.Check). They see the
// configuration after Resolve filled in defaults, so every key with a
// default is present and has its declared type.

var (
	awsRegion       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	eksClusterName  = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,99}$`)
	ec2InstanceType = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	eksVersion      = regexp.MustCompile(`^1\.[0-9]+$`)
	dnsLabel        = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	cpuQuantity     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?m?$`)
	memoryQuantity  = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([EPTGMK]i|[EPTGMk])?$`)
)

// SubnetBits is how many bits the aws program adds to the VPC prefix for
// each subnet: 16 equal subnets, public ones in the first half and private
// ones in the second, so changing azCount never moves an existing subnet.
const SubnetBits = 4

func checkAWS(c map[string]any) error {
	if r := c["region"].(string); !awsRegion.MatchString(r) {
		return &ConfigError{Key: "region", Problem: fmt.Sprintf("%q is not an AWS region name", r), Fix: "use a region code such as us-east-1 or eu-west-1"}
	}
	cidr := c["cidr"].(string)
	prefix, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil || !prefix.Addr().Is4():
		return &ConfigError{Key: "cidr", Problem: fmt.Sprintf("%q is not an IPv4 CIDR", cidr), Fix: "use e.g. 10.0.0.0/16"}
	case prefix.Bits() < 16 || prefix.Bits()+SubnetBits > 28:
		return &ConfigError{Key: "cidr", Problem: fmt.Sprintf("/%d is outside /16 to /24", prefix.Bits()), Fix: fmt.Sprintf("AWS VPCs are /16 to /28 and each subnet is %d bits longer, down to /28; use e.g. 10.0.0.0/16", SubnetBits)}
	case prefix.Masked() != prefix:
		return &ConfigError{Key: "cidr", Problem: fmt.Sprintf("%q has host bits set", cidr), Fix: fmt.Sprintf("use the network address %s", prefix.Masked())}
	}
	if n, ok := c["name"].(string); ok && !eksClusterName.MatchString(n) {
		return &ConfigError{Key: "name", Problem: fmt.Sprintf("%q is not a valid EKS cluster name", n), Fix: "use up to 100 letters, digits, - and _, starting with a letter or digit"}
	}
	if t := c["instanceType"].(string); !ec2InstanceType.MatchString(t) {
		return &ConfigError{Key: "instanceType", Problem: fmt.Sprintf("%q is not an EC2 instance type", t), Fix: "use e.g. t3.medium or m7g.large"}
	}
	if v, ok := c["kubernetesVersion"].(string); ok && !eksVersion.MatchString(v) {
		return &ConfigError{Key: "kubernetesVersion", Problem: fmt.Sprintf("%q is not an EKS version", v), Fix: "use major.minor, e.g. 1.33, or leave it unset"}
	}
	for _, key := range []string{"env", "owner"} {
		if v, ok := c[key].(string); ok && (v == "" || len(v) > 256) {
			return &ConfigError{Key: key, Problem: "must be 1 to 256 characters (it is a tag value)", Fix: "set a short value such as dev, or leave owner unset"}
		}
	}
	lo, want, hi := c["minSize"].(int), c["desiredSize"].(int), c["maxSize"].(int)
	if lo > hi {
		return &ConfigError{Key: "minSize", Problem: fmt.Sprintf("is %d, above maxSize %d", lo, hi), Fix: "make minSize <= desiredSize <= maxSize"}
	}
	if want < lo || want > hi {
		return &ConfigError{Key: "desiredSize", Problem: fmt.Sprintf("is %d, outside minSize..maxSize (%d..%d)", want, lo, hi), Fix: "make minSize <= desiredSize <= maxSize"}
	}
	return nil
}

func checkKubernetes(c map[string]any) error {
	for _, key := range []string{"app", "namespace"} {
		if v := c[key].(string); !dnsLabel.MatchString(v) {
			return &ConfigError{Key: key, Problem: fmt.Sprintf("%q is not a Kubernetes name (RFC 1123 label)", v), Fix: "use up to 63 lowercase letters, digits and -, starting and ending with a letter or digit"}
		}
	}
	if img := c["image"].(string); img == "" || strings.ContainsAny(img, " \t\n") {
		return &ConfigError{Key: "image", Problem: fmt.Sprintf("%q is not an image reference", img), Fix: "use e.g. nginx:1.27"}
	}
	if v := c["cpuRequest"].(string); !cpuQuantity.MatchString(v) {
		return &ConfigError{Key: "cpuRequest", Problem: fmt.Sprintf("%q is not a CPU quantity", v), Fix: "use cores or millicores, e.g. 250m or 0.5"}
	}
	if v := c["memoryRequest"].(string); !memoryQuantity.MatchString(v) {
		return &ConfigError{Key: "memoryRequest", Problem: fmt.Sprintf("%q is not a memory quantity", v), Fix: "use e.g. 128Mi or 1Gi"}
	}
	lo, replicas, hi := c["minReplicas"].(int), c["replicas"].(int), c["maxReplicas"].(int)
	if lo > hi {
		return &ConfigError{Key: "minReplicas", Problem: fmt.Sprintf("is %d, above maxReplicas %d", lo, hi), Fix: "make minReplicas <= replicas <= maxReplicas"}
	}
	if replicas < lo || replicas > hi {
		return &ConfigError{Key: "replicas", Problem: fmt.Sprintf("is %d, outside minReplicas..maxReplicas (%d..%d); the HPA would override it", replicas, lo, hi), Fix: "make minReplicas <= replicas <= maxReplicas"}
	}
	if n := c["minAvailable"].(int); n >= lo {
		return &ConfigError{Key: "minAvailable", Problem: fmt.Sprintf("is %d, not below minReplicas %d: at the HPA's minimum no pod could ever be evicted and node drains would hang", n, lo), Fix: "lower minAvailable or raise minReplicas"}
	}
	return nil
}
