package workflows

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeInputRefusesWhatItCannotUse(t *testing.T) {
	cases := []struct {
		name, input, field, mentions string
	}{
		{"unknown field", `{"tool": ["pulumi"]}`, "tool", "known fields: tools"},
		{"wrong type", `{"tools": "pulumi"}`, "tools", "got a JSON string, want array of string"},
		{"wrong element type", `{"tools": [1]}`, "tools", "got a JSON number, want string"},
		{"not an object", `["pulumi"]`, "input", "got a JSON array"},
		{"broken JSON", `{"tools": [`, "input", "not valid JSON"},
		{"two values", `{} {}`, "input", "more than one JSON value"},
		{"unknown tool", `{"tools": ["pulumi", "terraform"]}`, "tools[1]", `unknown tool "terraform"; use one of: temporal-server`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeInput[PlatformCheckInput]([]byte(tc.input))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeInput(%s) = %v, want a *FieldError", tc.input, err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
		})
	}
}

func TestDecodeInputAcceptsEmptyAndValid(t *testing.T) {
	for _, input := range []string{"", "  ", "null", "{}"} {
		in, err := DecodeInput[PlatformCheckInput]([]byte(input))
		if err != nil || len(in.Tools) != 0 {
			t.Errorf("DecodeInput(%q) = %+v, %v; want empty input accepted", input, in, err)
		}
	}
	in, err := DecodeInput[PlatformCheckInput]([]byte(`{"tools": ["pulumi", "ssh"]}`))
	if err != nil || strings.Join(in.Tools, ",") != "pulumi,ssh" {
		t.Fatalf("DecodeInput = %+v, %v; want tools pulumi,ssh", in, err)
	}
}
