package gameday

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fullYAML uses every kind of probe, fault, rollback, abort condition and
// remediation; fullJSON is the same spec written by hand in JSON.
const fullYAML = `title: checkout survives a bad afternoon
description: every kind at once
approval:
  approvers: [alice, bob]
  groups: [sre]
  quorum: 2
  expiry: 4h
probeInterval: 5s
recoveryTimeout: 2m
maxBlastRadius: 60
dryRun: true
steadyState:
  description: fast, correct and fully scaled
  probes:
    - name: home
      kind: http
      http: {url: "http://127.0.0.1:18080/", method: HEAD, samples: 20, timeout: 1s, status: 204, percentile: 99.9, maxLatency: 300ms}
    - name: errors
      kind: prometheus
      prometheus: {server: "http://127.0.0.1:9095", query: "sum(rate(errors[1m]))", min: 0, max: 0.5}
    - kind: available-replicas
      workload: {kind: statefulset, namespace: shop, name: db, minAvailable: 2}
    - kind: asg-in-service
      autoScalingGroup: {name: web-asg, minInService: 3}
method:
  - {name: slow, kind: latency, start: 10s, duration: 1m, toxic: {proxy: app, stream: upstream, toxicity: 0.5, latency: 200ms, jitter: 20ms}}
  - {name: stall, kind: timeout, duration: 30s, toxic: {proxy: db, timeout: 5s}}
  - {name: thin, kind: bandwidth, duration: 30s, toxic: {proxy: cdn, rateKBps: 64}}
  - {name: reset, kind: reset-peer, duration: 30s, toxic: {proxy: cache}}
  - {name: pods, kind: pod-delete, duration: 1m, pods: {namespace: shop, selector: "app=web,tier!=db", percentage: 60}}
  - {name: kill-sshd, kind: process-kill, duration: 1m, process: {name: sshd, signal: SIGTERM}}
  - {name: drop-one, kind: asg-terminate, duration: 1m, instances: {autoScalingGroup: web-asg, count: 1}}
rollbacks:
  - kind: provision-stack
    program: local
    stack: dev
    undoes: [kill-sshd]
  - kind: configure-hosts
    input:
      playbook: site.yml
      inventory: {stack: {program: local, stack: dev}}
      retry: {attempts: 2}
abort:
  - {kind: consecutive-failures, probe: home, count: 4}
  - {kind: error-budget, budget: 0.25, window: 1m}
remediation:
  - {kind: provision-stack, program: local, stack: dev}
  - {kind: notify, message: "checkout did not recover"}
`

const fullJSON = `{
  "title": "checkout survives a bad afternoon",
  "description": "every kind at once",
  "approval": {"approvers": ["alice", "bob"], "groups": ["sre"], "quorum": 2, "expiry": "4h"},
  "probeInterval": "5s",
  "recoveryTimeout": "2m",
  "maxBlastRadius": 60,
  "dryRun": true,
  "steadyState": {
    "description": "fast, correct and fully scaled",
    "probes": [
      {"name": "home", "kind": "http", "http": {"url": "http:\/\/127.0.0.1:18080\/", "method": "HEAD", "samples": 20,
        "timeout": "1s", "status": 204, "percentile": 99.9, "maxLatency": "300ms"}},
      {"name": "errors", "kind": "prometheus", "prometheus": {"server": "http://127.0.0.1:9095", "query": "sum(rate(errors[1m]))", "min": 0, "max": 0.5}},
      {"kind": "available-replicas", "workload": {"kind": "statefulset", "namespace": "shop", "name": "db", "minAvailable": 2}},
      {"kind": "asg-in-service", "autoScalingGroup": {"name": "web-asg", "minInService": 3}}
    ]
  },
  "method": [
    {"name": "slow", "kind": "latency", "start": "10s", "duration": "1m",
     "toxic": {"proxy": "app", "stream": "upstream", "toxicity": 0.5, "latency": "200ms", "jitter": "20ms"}},
    {"name": "stall", "kind": "timeout", "duration": "30s", "toxic": {"proxy": "db", "timeout": "5s"}},
    {"name": "thin", "kind": "bandwidth", "duration": "30s", "toxic": {"proxy": "cdn", "rateKBps": 64}},
    {"name": "reset", "kind": "reset-peer", "duration": "30s", "toxic": {"proxy": "cache"}},
    {"name": "pods", "kind": "pod-delete", "duration": "1m", "pods": {"namespace": "shop", "selector": "app=web,tier!=db", "percentage": 60}},
    {"name": "kill-sshd", "kind": "process-kill", "duration": "1m", "process": {"name": "sshd", "signal": "SIGTERM"}},
    {"name": "drop-one", "kind": "asg-terminate", "duration": "1m", "instances": {"autoScalingGroup": "web-asg", "count": 1}}
  ],
  "rollbacks": [
    {"kind": "provision-stack", "program": "local", "stack": "dev", "undoes": ["kill-sshd"]},
    {"kind": "configure-hosts", "input": {"playbook": "site.yml", "inventory": {"stack": {"program": "local", "stack": "dev"}}, "retry": {"attempts": 2}}}
  ],
  "abort": [
    {"kind": "consecutive-failures", "probe": "home", "count": 4},
    {"kind": "error-budget", "budget": 0.25, "window": "1m"}
  ],
  "remediation": [
    {"kind": "provision-stack", "program": "local", "stack": "dev"},
    {"kind": "notify", "message": "checkout did not recover"}
  ]
}`

func mustParse(t *testing.T, spec string) Experiment {
	t.Helper()
	e, err := Parse([]byte(spec))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

func TestJSONAndYAMLParseEqual(t *testing.T) {
	fromYAML, fromJSON := mustParse(t, fullYAML), mustParse(t, fullJSON)
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatalf("YAML and JSON of the same spec differ:\nYAML %+v\nJSON %+v", fromYAML, fromJSON)
	}
	// Spot checks that the values are the ones written, not merely equal.
	if got := fromYAML.Method[0].Toxic.Jitter.Value().Milliseconds(); got != 20 {
		t.Errorf("method[0].toxic.jitter = %dms, want 20ms", got)
	}
	if got := *fromYAML.SteadyState.Probes[1].Prometheus.Min; got != 0 {
		t.Errorf("min = %v, want 0 (set, not left out)", got)
	}
	if got, want := string(fromYAML.Rollbacks[1].Input), `{"playbook":"site.yml","inventory":{"stack":{"program":"local","stack":"dev"}},"retry":{"attempts":2}}`; got != want {
		t.Errorf("configure-hosts input = %s, want %s", got, want)
	}
	if fromYAML.SteadyState.Probes[0].HTTP.URL != "http://127.0.0.1:18080/" {
		t.Errorf(`JSON's "\/" escape was not read as "/": %q`, fromJSON.SteadyState.Probes[0].HTTP.URL)
	}
}

// TestParsedSpecSurvivesJSON is the path a spec file takes to a workflow:
// parsed, sent as JSON, decoded strictly by the workflow's input decoder.
func TestParsedSpecSurvivesJSON(t *testing.T) {
	parsed := mustParse(t, fullYAML)
	data, err := json.Marshal(parsed)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Experiment
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatalf("strict JSON decode of %s: %v", data, err)
	}
	if !reflect.DeepEqual(parsed, decoded) {
		t.Fatalf("round trip through JSON changed the spec:\nbefore %+v\nafter  %+v", parsed, decoded)
	}
	if err := decoded.Validate(); err != nil {
		t.Fatalf("decoded spec does not validate: %v", err)
	}
}

// TestInvalidSpecs gives each refusal the issue names, and others, with the
// field and the line (and column) they must be reported at.
func TestInvalidSpecs(t *testing.T) {
	const base = `title: t
approval: {groups: [sre]}
steadyState:
  probes:
    - kind: http
      http: {url: "http://127.0.0.1:18080/"}
method:
`
	cases := []struct {
		name, spec   string
		field        string
		line, column int
		problem, fix string
	}{
		{"unknown fault kind", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
  - kind: latncy
    duration: 1m
`, "method[1].kind", 11, 5, `unknown fault kind "latncy"`, "use one of latency, timeout, bandwidth, reset-peer, pod-delete, process-kill or asg-terminate"},
		{"blast radius above the default cap", base + `  - kind: pod-delete
    duration: 1m
    pods:
      selector: app=web
      percentage: 80
`, "method[0].pods.percentage", 12, 7, "80% is above the blast-radius cap of 50%", "raise maxBlastRadius"},
		{"blast radius above a spec's cap", "maxBlastRadius: 20\n" + base + `  - kind: asg-terminate
    duration: 1m
    instances: {autoScalingGroup: web-asg, percentage: 25}
`, "method[0].instances.percentage", 11, 44, "25% is above the blast-radius cap of 20%", ""},
		{"a fault with neither an undo nor a rollback", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
  - name: kill-app
    kind: process-kill
    duration: 1m
    process: {name: app}
rollbacks:
  - {kind: provision-stack, program: local, stack: dev, undoes: [latency-1]}
`, "method[1]", 11, 5, `process-kill fault "kill-app" has no undo and no rollback names it`, `"undoes": ["kill-app"]`},
		{"malformed YAML", `title: t
method:
  - kind: latency
     duration: 1m
`, "spec", 4, 1, "is not valid YAML: mapping values are not allowed in this context", "fix the YAML"},
		{"malformed JSON", "{\n  \"title\": \"t\",\n  \"method\": [\n    {\"kind\": \"latency\" \"duration\": \"1m\"}\n  ]\n}\n",
			"spec", 4, 24, "is not valid JSON", "comma"},
		{"a misspelt field", base + `  - kind: latency
    duraton: 1m
    toxic: {proxy: app, latency: 1s}
`, "method[0].duraton", 9, 5, "is not a known field", "did you mean duration?"},
		{"a number for a duration", base + `  - kind: latency
    duration: 60
    toxic: {proxy: app, latency: 1s}
`, "method[0].duration", 9, 15, `got the number 60, want a duration such as "30s"`, `"60s"`},
		{"a field set twice", base + `  - kind: latency
    duration: 1m
    duration: 2m
    toxic: {proxy: app, latency: 1s}
`, "method[0].duration", 10, 5, "is set twice (first on line 9)", "keep one"},
		{"an attribute of another toxic", base + `  - kind: bandwidth
    duration: 1m
    toxic: {proxy: app, rateKBps: 10, jitter: 5ms}
`, "method[0].toxic.jitter", 10, 39, "does not apply to a bandwidth fault", "takes rateKBps"},
		{"a sub-object of another kind", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
    pods: {selector: app=web, count: 1}
`, "method[0].pods", 11, 5, "does not apply to a latency fault", "change kind to pod-delete"},
		{"count and percentage", base + `  - kind: pod-delete
    duration: 1m
    pods: {selector: app=web, count: 1, percentage: 10}
`, "method[0].pods.count", 10, 31, "is set together with percentage", "keep one"},
		{"a selector that matches almost everything", base + `  - kind: pod-delete
    duration: 1m
    pods: {selector: "app!=db", count: 1}
`, "method[0].pods.selector", 10, 12, "has no key=value term", "app=web"},
		{"a rollback of a fault that is not there", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
rollbacks:
  - kind: provision-stack
    program: local
    stack: dev
    undoes: [latency-2]
`, "rollbacks[0].undoes[0]", 15, 14, `"latency-2" is not a fault of the method`, "latency-1"},
		{"an unknown program", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
remediation:
  - {kind: provision-stack, program: lokal, stack: dev}
`, "remediation[0].program", 12, 29, `unknown program "lokal"`, "aws, kubernetes or local"},
		{"no approver", strings.Replace(base, "approval: {groups: [sre]}\n", "", 1) + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
`, "approval", 1, 1, "no one may approve", "only a dry run needs none"},
		{"an abort naming no probe", base + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
abort:
  - {kind: consecutive-failures, probe: hom, count: 2}
`, "abort[0].probe", 12, 34, `"hom" is not a probe of steadyState`, "http-1"},
		{"a request timeout longer than the interval", "probeInterval: 2s\n" + strings.Replace(base, `{url: "http://127.0.0.1:18080/"}`, `{url: "http://127.0.0.1:18080/", timeout: 3s}`, 1) + `  - kind: latency
    duration: 1m
    toxic: {proxy: app, latency: 1s}
`, "steadyState.probes[0].http.timeout", 7, 46, "3s is longer than probeInterval (2s)", "lengthen probeInterval"},
		{"a merge key", "defaults: &d {duration: 1m}\n" + base, "", 1, 1, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.spec))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse returned %v (%T), want Errors", err, err)
			}
			if c.field == "" {
				// Only that it is refused, with a line.
				if errs[0].Line == 0 {
					t.Fatalf("no line in %v", errs)
				}
				return
			}
			for _, e := range errs {
				if e.Field != c.field {
					continue
				}
				if e.Line != c.line || e.Column != c.column {
					t.Errorf("%s at %d:%d, want %d:%d", c.field, e.Line, e.Column, c.line, c.column)
				}
				if !strings.Contains(e.Problem, c.problem) {
					t.Errorf("problem %q, want it to say %q", e.Problem, c.problem)
				}
				if !strings.Contains(e.Fix, c.fix) {
					t.Errorf("fix %q, want it to say %q", e.Fix, c.fix)
				}
				return
			}
			t.Fatalf("no error for %s in:\n%s", c.field, errs.Format("spec.yaml"))
		})
	}
}

func TestEveryProblemIsReportedInOrder(t *testing.T) {
	_, err := Parse([]byte(`title: ""
probeInterval: 0s
steadyState:
  probes: []
method:
  - kind: latncy
    duration: 1m
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v", err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	want := []string{"title", "approval", "probeInterval", "steadyState.probes", "method[0].kind"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fields %v, want %v:\n%s", got, want, errs.Format("spec.yaml"))
	}
	// title and approval are on line 1 (the title's line, and the spec's for
	// a missing approval); the rest follow the spec.
	lines := []int{1, 1, 2, 4, 6}
	for i, e := range errs {
		if e.Line != lines[i] {
			t.Errorf("%s on line %d, want %d", e.Field, e.Line, lines[i])
		}
	}
}

// TestMisspeltFieldIsReportedOnce: the misspelling, not also the field it
// left empty.
func TestMisspeltFieldIsReportedOnce(t *testing.T) {
	_, err := Parse([]byte("titel: t\n"))
	var errs Errors
	errors.As(err, &errs)
	for _, e := range errs {
		if e.Field == "title" {
			t.Fatalf("a misspelt title also reported as missing:\n%s", errs.Format("spec.yaml"))
		}
	}
	if errs[0].Field != "titel" || !strings.Contains(errs[0].Fix, "did you mean title?") {
		t.Fatalf("got %v", errs[0])
	}
}

func TestErrorsFormat(t *testing.T) {
	_, err := Parse([]byte(fullYAML[:strings.Index(fullYAML, "\nmethod:")] + "\nmethod:\n  - {kind: latncy, duration: 1m}\n"))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %v", err)
	}
	want := `spec.yaml:26:6: method[0].kind: unknown fault kind "latncy"; use one of latency, timeout, bandwidth, reset-peer, pod-delete, process-kill or asg-terminate` + "\n"
	if got := errs.Format("spec.yaml"); got != want {
		t.Fatalf("Format:\n%s\nwant\n%s", got, want)
	}
	if got := errs.Error(); !strings.HasPrefix(got, "line 26, column 6: method[0].kind: unknown fault kind") {
		t.Fatalf("Error() = %q", got)
	}
}

func TestSpecsThatAreNotSpecs(t *testing.T) {
	cases := map[string]string{
		"":                                       "is empty",
		"# nothing\n":                            "is empty",
		"---\n":                                  "is empty",
		"null":                                   "is empty",
		"[1, 2]":                                 "got a list, want an object",
		"title: a\n---\ntitle: b\n":              "more than one YAML document",
		"\x01":                                   "is not valid YAML",
		"title: !custom x\n":                     "tagged !custom",
		"title: [a]\n":                           "got a list, want a string",
		"1: x\n":                                 "not a field name",
		"<<: {title: x}\n":                       "merge keys are not supported",
		"dryRun: yes\n":                          `got the string "yes", want true or false`,
		"maxBlastRadius: 1e99\n":                 "got the number 1e99, want a whole number",
		"maxBlastRadius: 99999999999999999999\n": "want a whole number",
		"steadyState: {probes: [{kind: prometheus, prometheus: {query: up, min: .nan}}]}\n": "not a finite number",
	}
	for spec, want := range cases {
		_, err := Parse([]byte(spec))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", spec, err, want)
		}
	}
}

// TestAliasesCannotExplode: a "billion laughs" spec is refused quickly.
func TestAliasesCannotExplode(t *testing.T) {
	spec := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		spec += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = name
	}
	spec += "rollbacks: [{kind: configure-hosts, input: {x: *h}}]\n"
	_, err := Parse([]byte(spec))
	if err == nil || !strings.Contains(err.Error(), "more than 100000 values") {
		t.Fatalf("got %v", err)
	}
}

func TestAliasesAreFollowed(t *testing.T) {
	spec := strings.Replace(fullYAML, "approval:\n  approvers: [alice, bob]", "approval:\n  approvers: &people [alice, bob]", 1)
	spec = strings.Replace(spec, "\nabort:", "\n  - {kind: configure-hosts, input: {extraVars: {owners: *people}}}\nabort:", 1)
	e := mustParse(t, spec)
	if got, want := string(e.Rollbacks[2].Input), `{"extraVars":{"owners":["alice","bob"]}}`; got != want {
		t.Fatalf("input = %s, want %s", got, want)
	}
}

func TestLocateFindsAFieldOrItsNearestWrittenParent(t *testing.T) {
	spec := `title: t
probeInterval: 1s
method:
  - name: slow
    kind: latency
    duration: 1m
  - {name: stall, kind: timeout, duration: 30s}
`
	// A field is where its name is, as Parse reports its problems.
	for _, c := range []struct {
		field     string
		line, col int
	}{
		{"probeInterval", 2, 1},
		{"method[0].duration", 6, 5},
		{"method[1].duration", 7, 34},
		// Not written: where its parent is.
		{"method[1].toxic.latency", 7, 5},
		{"recoveryTimeout", 1, 1},
	} {
		if line, col := Locate([]byte(spec), c.field); line != c.line || col != c.col {
			t.Errorf("%s: %d:%d, want %d:%d", c.field, line, col, c.line, c.col)
		}
	}
	if line, col := Locate([]byte(`{"title": "t",`+"\n"+` "probeInterval": "1s"}`), "probeInterval"); line != 2 || col != 2 {
		t.Errorf("probeInterval in JSON: %d:%d, want 2:2", line, col)
	}
	if line, col := Locate([]byte("title: [unclosed\n"), "title"); line != 0 || col != 0 {
		t.Errorf("a field of malformed YAML: %d:%d, want 0:0", line, col)
	}
}
