package activities

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/internal/gameday"
)

// An HTTP probe written without maxLatency (the spec makes it optional)
// judges the status alone: the round holds while the service answers 200 and
// fails when it does not, instead of failing on the engine's input check.
func TestRunProbesHTTPWithoutMaxLatencyJudgesTheStatus(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	spec := gameday.Experiment{Title: "status only", ProbeInterval: "1s",
		SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "health", Kind: gameday.ProbeHTTP,
			HTTP: &gameday.HTTPProbe{URL: srv.URL + "/healthz", Samples: 2}}}},
		Method:   []gameday.Fault{{Name: "slow", Kind: gameday.FaultLatency, Duration: "1s", Toxic: &gameday.Toxic{Proxy: "app", Latency: "100ms"}}},
		Approval: &gameday.Approval{Groups: []string{"sre"}},
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("the spec: %v", err)
	}
	probes := spec.WithDefaults().SteadyState.Probes
	a := &Activities{Chaos: ChaosConfig{Identity: "test@host"}}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(a.RunProbes)
	round := func() gameday.ProbeRound {
		t.Helper()
		v, err := env.ExecuteActivity(a.RunProbes, gameday.ProbeRequest{Probes: probes, Phase: "before"})
		if err != nil {
			t.Fatalf("RunProbes: %v", err)
		}
		var r gameday.ProbeRound
		if err := v.Get(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := round(); !r.OK || !strings.Contains(r.Results[0].Detail, "(want status 200)") {
		t.Errorf("a service answering 200: %+v, want the round to hold on its status", r)
	}
	failing.Store(true)
	if r := round(); r.OK || !strings.Contains(r.Results[0].Detail, "2 of 2 requests failed") {
		t.Errorf("a service answering 500: %+v, want the round to fail on its status", r)
	}
}
