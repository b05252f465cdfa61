package workflows

import (
	"errors"
	"strings"
	"testing"
)

// The aws and kubernetes programs' whole-configuration checks reach the
// workflow's input validation as field errors, before any Pulumi call.
func TestProvisionInputChecksCloudConfig(t *testing.T) {
	cases := []struct {
		name, input, field, mentions string
	}{
		{"aws without region", `{"program": "aws", "stack": "dev"}`, "config.region", "is required"},
		{"aws VPC too large", `{"program": "aws", "stack": "dev", "config": {"region": "eu-west-1", "cidr": "10.0.0.0/8"}}`, "config.cidr", "/8 is outside /16 to /24"},
		{"aws sizes out of order", `{"program": "aws", "stack": "dev", "config": {"region": "eu-west-1", "desiredSize": 9}}`, "config.desiredSize", "outside minSize..maxSize (1..3)"},
		{"aws too many zones", `{"program": "aws", "stack": "dev", "config": {"region": "eu-west-1", "azCount": 7}}`, "config.azCount", "above the maximum 6"},
		{"kubernetes replicas past the HPA", `{"program": "kubernetes", "stack": "dev", "config": {"image": "nginx:1.27", "replicas": 10}}`, "config.replicas", "outside minReplicas..maxReplicas (2..5)"},
		{"kubernetes unknown key", `{"program": "kubernetes", "stack": "dev", "config": {"image": "nginx:1.27", "hosts": 2}}`, "config.hosts", "is not a setting of the kubernetes program"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeInput[ProvisionInput]([]byte(tc.input))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("DecodeInput(%s) = %v, want field %s mentioning %q", tc.input, err, tc.field, tc.mentions)
			}
		})
	}
	in, err := DecodeInput[ProvisionInput]([]byte(`{"program": "aws", "stack": "dev", "config": {"region": "eu-west-1", "azCount": 2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := in.withDefaults().Config; cfg["azCount"] != 2 || cfg["cidr"] != "10.0.0.0/16" || cfg["maxSize"] != 3 {
		t.Errorf("resolved config %v", cfg)
	}
}
