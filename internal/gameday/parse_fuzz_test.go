package gameday

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: whatever text a person hands the starter as a spec, Parse must
// not panic, a refusal must name a field, and an accepted spec must reach
// the workflow unchanged as JSON and still be valid with its defaults.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("examples/*")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		fullYAML, fullJSON, minimal, ``, `null`, `{}`, `[]`, `"text"`, `42`, "title: a\n---\ntitle: b\n",
		"a: &a [x, x]\nb: *a\n", "<<: {title: x}\n", "title: !!binary aGVsbG8=\n", "{\"title\": \"\\ud83d\\ude00\"}",
		"method:\n  - kind: latency\n     duration: 1m\n", `{"method": [{"kind": "latency" "duration": "1m"}]}`,
		"steadyState: {probes: [{kind: prometheus, prometheus: {query: up, min: .inf}}]}\n",
		"rollbacks: [{kind: configure-hosts, input: {a: [1, 2.5, true, null, ~, 0x1F, 2001-12-14]}}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("refusal %v (%T) is not a list of field errors", err, err)
			}
			for _, fe := range errs {
				if fe.Field == "" || fe.Problem == "" || fe.Line < 0 || fe.Column < 0 {
					t.Fatalf("refusal %+v names no field or problem", fe)
				}
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted spec does not validate: %v", err)
		}
		defaulted := e.WithDefaults()
		if err := defaulted.Validate(); err != nil {
			t.Fatalf("accepted spec does not validate with its defaults: %v", err)
		}
		if !reflect.DeepEqual(defaulted, defaulted.WithDefaults()) {
			t.Fatalf("defaults applied twice differ")
		}
		sent, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("accepted spec does not encode: %v", err)
		}
		var received Experiment
		dec := json.NewDecoder(bytes.NewReader(sent))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&received); err != nil {
			t.Fatalf("the workflow's decoding refuses %s: %v", sent, err)
		}
		if again, _ := json.Marshal(received); !bytes.Equal(again, sent) {
			t.Fatalf("JSON round trip changed the spec:\n%s\n%s", sent, again)
		}
		reparsed, err := Parse(sent)
		if err != nil {
			t.Fatalf("Parse refuses its own output as JSON %s: %v", sent, err)
		}
		if again, _ := json.Marshal(reparsed); !bytes.Equal(again, sent) {
			t.Fatalf("Parse of the JSON differs:\n%s\n%s", sent, again)
		}
	})
}
