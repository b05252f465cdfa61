package gameday

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest spec the workflow accepts as JSON input.
const minimal = `{"title": "t", "approval": {"groups": ["sre"]},
 "steadyState": {"probes": [{"kind": "http", "http": {"url": "http://127.0.0.1:18080/", "maxLatency": "300ms"}},
                            {"kind": "available-replicas", "workload": {"name": "web"}}]},
 "method": [{"kind": "latency", "duration": "1m", "toxic": {"proxy": "app", "latency": "100ms"}},
            {"kind": "timeout", "duration": "1m", "toxic": {"proxy": "db"}},
            {"kind": "pod-delete", "duration": "1m", "pods": {"selector": "app=web", "count": 1}},
            {"kind": "process-kill", "duration": "1m", "process": {"name": "app"}}],
 "rollbacks": [{"kind": "provision-stack", "program": "local", "stack": "dev", "undoes": ["process-kill-4"]}]}`

func TestDefaultsAreAppliedOnce(t *testing.T) {
	e := mustParse(t, minimal)
	before, _ := json.Marshal(e)
	once := e.WithDefaults()
	twice := once.WithDefaults()
	if !reflect.DeepEqual(once, twice) {
		t.Fatalf("defaults applied twice differ:\nonce  %+v\ntwice %+v", once, twice)
	}
	if after, _ := json.Marshal(e); string(after) != string(before) {
		t.Fatalf("WithDefaults changed the spec it was called on:\nbefore %s\nafter  %s", before, after)
	}
	if err := once.Validate(); err != nil {
		t.Fatalf("defaulted spec does not validate: %v", err)
	}

	// The defaults, as internal/gameday/SPEC.md gives them.
	checks := []struct {
		name      string
		got, want any
	}{
		{"probeInterval", once.ProbeInterval, Duration("10s")},
		{"recoveryTimeout", once.RecoveryTimeout, Duration("5m")},
		{"maxBlastRadius", once.MaxBlastRadius, 50},
		{"probe names", []string{once.SteadyState.Probes[0].Name, once.SteadyState.Probes[1].Name}, []string{"http-1", "available-replicas-2"}},
		{"http", *once.SteadyState.Probes[0].HTTP, HTTPProbe{URL: "http://127.0.0.1:18080/", Method: "GET", Samples: 10, Timeout: "5s", Status: 200, Percentile: 95, MaxLatency: "300ms"}},
		{"workload", *once.SteadyState.Probes[1].Workload, WorkloadProbe{Kind: "deployment", Namespace: "default", Name: "web"}},
		{"fault names", []string{once.Method[0].ID(), once.Method[1].ID(), once.Method[2].ID(), once.Method[3].ID()}, []string{"latency-1", "timeout-2", "pod-delete-3", "process-kill-4"}},
		{"start", once.Method[0].Start, Duration("0s")},
		{"latency toxic", *once.Method[0].Toxic, Toxic{Proxy: "app", Stream: "downstream", Toxicity: 1, Latency: "100ms"}},
		{"timeout toxic", *once.Method[1].Toxic, Toxic{Proxy: "db", Stream: "downstream", Toxicity: 1, Timeout: "0s"}},
		{"pods", *once.Method[2].Pods, PodSelection{Namespace: "default", Selector: "app=web", TargetShare: TargetShare{Count: 1}}},
		{"process", *once.Method[3].Process, ProcessTarget{Name: "app", Signal: "SIGKILL"}},
		{"rollback name", once.Rollbacks[0].Name, "provision-stack-1"},
		{"abort", once.Abort, []AbortCondition{{Kind: AbortConsecutiveFailures, Count: 3}}},
		{"remediation", once.Remediation, []Action{{Name: "notify-1", Kind: ActionNotify}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultRequestTimeoutFitsTheInterval(t *testing.T) {
	e := mustParse(t, strings.Replace(minimal, `{"title": "t",`, `{"title": "t", "probeInterval": "2s",`, 1)).WithDefaults()
	if got := e.SteadyState.Probes[0].HTTP.Timeout; got != "2s" {
		t.Fatalf("timeout = %s, want 2s (the interval, shorter than 5s)", got)
	}
}

// TestValidateWithoutLines is the workflow's path: JSON decoded into the
// struct, validated, every problem named by its field.
func TestValidateWithoutLines(t *testing.T) {
	var e Experiment
	if err := json.Unmarshal([]byte(minimal), &e); err != nil {
		t.Fatal(err)
	}
	e.Method[0].Kind = "latncy"
	e.Method[2].Pods.Percentage = 70
	e.Rollbacks = nil
	err := e.Validate()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate = %v (%T), want Errors", err, err)
	}
	want := map[string]string{
		"method[0].kind":       `unknown fault kind "latncy"`,
		"method[2].pods.count": "is set together with percentage",
		"method[3]":            `process-kill fault "process-kill-4" has no undo and no rollback names it`,
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for _, fe := range errs {
		if fe.Line != 0 {
			t.Errorf("%s has line %d without a source", fe.Field, fe.Line)
		}
		if problem, ok := want[fe.Field]; !ok || !strings.Contains(fe.Problem, problem) {
			t.Errorf("unexpected %v", fe)
		}
		if fe.Fix == "" {
			t.Errorf("%s says no fix", fe.Field)
		}
	}
}

func TestDryRunNeedsNoApproval(t *testing.T) {
	e := mustParse(t, minimal)
	e.Approval = nil
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "approval: no one may approve") {
		t.Fatalf("a game day without approvers: %v", err)
	}
	e.DryRun = true
	if err := e.Validate(); err != nil {
		t.Fatalf("a dry run without approvers: %v", err)
	}
}

func TestFaultClasses(t *testing.T) {
	cases := []struct {
		kind                  FaultKind
		undoable, selfHealing bool
	}{
		{FaultLatency, true, false}, {FaultTimeout, true, false}, {FaultBandwidth, true, false}, {FaultResetPeer, true, false},
		{FaultPodDelete, false, true}, {FaultASGTerminate, false, true},
		{FaultProcessKill, false, false},
	}
	if len(cases) != len(FaultKinds()) {
		t.Fatalf("%d kinds classified, %d kinds exist", len(cases), len(FaultKinds()))
	}
	for _, c := range cases {
		f := Fault{Kind: c.kind}
		if f.Undoable() != c.undoable || f.SelfHealing() != c.selfHealing {
			t.Errorf("%s: undoable %v self-healing %v, want %v %v", c.kind, f.Undoable(), f.SelfHealing(), c.undoable, c.selfHealing)
		}
	}
}

func TestPick(t *testing.T) {
	cases := []struct {
		share        TargetShare
		matched, cap int
		want         int
		problem      string
	}{
		{TargetShare{Percentage: 50}, 2, 50, 1, ""},
		{TargetShare{Percentage: 50}, 5, 50, 2, ""}, // rounded down: never above the share asked for
		{TargetShare{Percentage: 30}, 3, 50, 0, "less than one"},
		{TargetShare{Count: 1}, 4, 25, 1, ""},
		{TargetShare{Count: 2}, 4, 25, 0, "2 of 4 targets is 50%, above the blast-radius cap of 25%"},
		{TargetShare{Count: 5}, 4, 100, 0, "more than the 4 targets"},
		{TargetShare{Count: 1}, 0, 100, 0, "no target matches"},
		{TargetShare{}, 3, 100, 0, "neither"},
	}
	for _, c := range cases {
		got, err := c.share.Pick(c.matched, c.cap)
		switch {
		case c.problem == "" && (err != nil || got != c.want):
			t.Errorf("%+v of %d (cap %d) = %d, %v; want %d", c.share, c.matched, c.cap, got, err, c.want)
		case c.problem != "" && (err == nil || !strings.Contains(err.Error(), c.problem)):
			t.Errorf("%+v of %d (cap %d) = %d, %v; want an error saying %q", c.share, c.matched, c.cap, got, err, c.problem)
		}
	}
}

func TestDurations(t *testing.T) {
	e := mustParse(t, fullYAML).WithDefaults()
	if got := e.MethodLength(); got != 70*time.Second {
		t.Errorf("method length %s, want 1m10s (the latency fault starts at 10s and lasts 1m)", got)
	}
	if got := Duration("").Value(); got != 0 {
		t.Errorf("empty duration = %s", got)
	}
	if got := Duration("1h30m").Value(); got != 90*time.Minute {
		t.Errorf("1h30m = %s", got)
	}
}

func TestSummary(t *testing.T) {
	e := mustParse(t, fullYAML).WithDefaults()
	want := `Dry run: nothing is injected.
4 probes every 5s; blast radius at most 60%; recovery within 2m.
- slow: add 200ms latency (±20ms jitter) on proxy app (upstream) for 50% of connections at +10s for 1m
- stall: stop data and close connections after 5s on proxy db (downstream) at +0s for 30s
- thin: limit bandwidth to 64 KB/s on proxy cdn (downstream) at +0s for 30s
- reset: reset connections on proxy cache (downstream) at +0s for 30s
- pods: delete 60% of the pods app=web,tier!=db in namespace shop at +0s for 1m
- kill-sshd: send SIGTERM to processes named sshd at +0s for 1m
- drop-one: terminate 1 of the instances of Auto Scaling group web-asg at +0s for 1m
`
	if got := e.Summary(); got != want {
		t.Fatalf("Summary:\n%s\nwant\n%s", got, want)
	}
}
