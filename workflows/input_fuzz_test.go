package workflows

import (
	"encoding/json"
	"errors"
	"testing"
)

// Each workflow's input decoding is fuzzed: whatever a person (or a script)
// passes to `temporal workflow start --input`, decoding must not panic, a
// refusal must name a field, and an accepted input must survive the round
// trip the starter and child workflows put it through.

func FuzzProvisionInput(f *testing.F)     { fuzzInput[ProvisionInput](f, "ProvisionStack") }
func FuzzConfigureInput(f *testing.F)     { fuzzInput[ConfigureInput](f, "ConfigureHosts") }
func FuzzApprovalInput(f *testing.F)      { fuzzInput[ApprovalInput](f, "Approval") }
func FuzzDriftCheckInput(f *testing.F)    { fuzzInput[DriftCheckInput](f, "DriftCheck") }
func FuzzForecastScaleInput(f *testing.F) { fuzzInput[ForecastScaleInput](f, "ForecastScale") }
func FuzzPlatformCheckInput(f *testing.F) { fuzzInput[PlatformCheckInput](f, "PlatformCheck") }

// hostileInputs are tried on every workflow.
var hostileInputs = []string{
	``, `null`, `{}`, `[]`, `"text"`, `42`, `{"a":1}{"b":2}`, `{"program":`, "{\"stack\":\"dev\x00\"}",
	`{"playbook":"../../../tmp/evil.yml"}`, `{"playbook":"/etc/passwd"}`, `{"config":{"replicas":1e309}}`,
	`{"program":"local","stack":"../dev"}`, `{"requester":"` + string(make([]byte, 300)) + `"}`,
	`{"quorum":-1,"approvers":["a","a"]}`, `{"expiry":"-1h"}`, `{"policy":{"minReplicas":5,"maxReplicas":1}}`,
	`{"tools":["temporal-server","rm -rf /"]}`, `{"extraVars":{"a":{"b":{"c":[1,2,{"d":null}]}}}}`,
}

func fuzzInput[I Input](f *testing.F, workflowType string) {
	d, ok := Lookup(workflowType)
	if !ok {
		f.Fatalf("no workflow %s", workflowType)
	}
	f.Add([]byte(d.Example))
	for _, s := range hostileInputs {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := DecodeInput[I](data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("refusal %v (%T) names no field", err, err)
			}
			return
		}
		again, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		if _, err := DecodeInput[I](again); err != nil {
			t.Fatalf("accepted input %s is refused after a round trip as %s: %v", data, again, err)
		}
	})
}
