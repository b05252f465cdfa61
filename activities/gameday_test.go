package activities

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/procs"
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

// Before any fault, a probe that cannot reach its target makes the round a
// retryable error (the workflow waits for the target), unless another probe
// measured a breach, which is final. During the method the same probe just
// fails its round, since the fault may be the cause.
func TestRunProbesBeforeAnyFaultRetriesOnlyWhatCouldNotMeasure(t *testing.T) {
	// A Prometheus this worker may query, but which is down.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer failing.Close()
	one := 1.0
	metric := gameday.Probe{Name: "error-rate", Kind: gameday.ProbePrometheus, Prometheus: &gameday.PrometheusProbe{Query: "up", Min: &one}}
	health := gameday.Probe{Name: "health", Kind: gameday.ProbeHTTP, HTTP: &gameday.HTTPProbe{URL: failing.URL, Samples: 1, Timeout: "1s"}}
	a := &Activities{Chaos: ChaosConfig{Identity: "test@host"}, Scale: ScaleConfig{PrometheusURLs: []string{gone.URL}}}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(a.RunProbes)
	run := func(phase string, probes ...gameday.Probe) (gameday.ProbeRound, error) {
		t.Helper()
		// The workflow asks for the retry before any fault only.
		req := gameday.ProbeRequest{Probes: probes, Phase: phase, RetryUnmeasured: phase == gameday.PhaseBefore}
		v, err := env.ExecuteActivity(a.RunProbes, req)
		var r gameday.ProbeRound
		if err == nil {
			err = v.Get(&r)
		}
		return r, err
	}

	_, err := run(gameday.PhaseBefore, metric)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != gameday.ErrTypeUnmeasured || appErr.NonRetryable() {
		t.Fatalf("before, Prometheus down: %v, want a retryable %s", err, gameday.ErrTypeUnmeasured)
	}
	var last gameday.ProbeRound
	if err := appErr.Details(&last); err != nil || len(last.Results) != 1 || !last.Results[0].Unmeasured || !strings.Contains(last.Results[0].Detail, "could not measure") {
		t.Errorf("the error's round %+v (%v), want the unmeasured probe", last, err)
	}

	if r, err := run(gameday.PhaseBefore, metric, health); err != nil || r.OK || r.Results[1].Unmeasured {
		t.Errorf("before, Prometheus down and the app failing: %+v %v, want a final failed round", r, err)
	}
	if r, err := run("method", metric); err != nil || r.OK || !r.Results[0].Unmeasured {
		t.Errorf("during the method, Prometheus down: %+v %v, want a failed round", r, err)
	}
	refused := metric
	refused.Prometheus = &gameday.PrometheusProbe{Server: "http://prometheus.elsewhere:9090", Query: "up", Min: &one}
	if r, err := run(gameday.PhaseBefore, refused); err != nil || r.OK || r.Results[0].Unmeasured {
		t.Errorf("before, a Prometheus this worker may not query: %+v %v, want a final failed round", r, err)
	}
}

// A process kill signals every process of that name the worker may touch
// (those whose command line names its data directory) with the spec's
// signal, and spares one of the same name elsewhere.
func TestInjectProcessKillSignalsEveryProcessOfThatNameUnderTheDataDir(t *testing.T) {
	dataDir := t.TempDir()
	name := fmt.Sprintf("victim-%d.sh", time.Now().UnixNano()%1e9)
	start := func(dir string) *exec.Cmd {
		t.Helper()
		script := filepath.Join(dir, name)
		// Ready once its trap is set (a signal before that would end it by
		// default); it waits in a builtin, since a forked sleep would briefly
		// be another process with the same command line.
		if err := os.WriteFile(script, []byte("#!/bin/bash\ntrap 'exit 0' TERM\nmkfifo \"$0.fifo\"; exec 9<>\"$0.fifo\"\n: >\"$0.ready\"\nwhile :; do read -r -t 1 -u 9; done\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(script + ".ready"); err == nil {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never set its TERM trap", script)
			}
		}
	}
	hostA, hostB := filepath.Join(dataDir, "a"), filepath.Join(dataDir, "b")
	for _, d := range []string{hostA, hostB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mine := []*exec.Cmd{start(hostA), start(hostB)}
	elsewhere := start(t.TempDir())

	a := &Activities{Chaos: ChaosConfig{DataDir: dataDir, Identity: "test@host"}}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(a.InjectFault)
	fault := gameday.Fault{Name: "term-app", Kind: gameday.FaultProcessKill, Duration: "1s", Process: &gameday.ProcessTarget{Name: name, Signal: "SIGTERM"}}
	v, err := env.ExecuteActivity(a.InjectFault, gameday.FaultRequest{Token: "gameday-test-term", Fault: fault})
	if err != nil {
		t.Fatalf("InjectFault: %v", err)
	}
	var got gameday.Injection
	if err := v.Get(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 2 {
		t.Errorf("targets %v, want both processes under the data directory", got.Targets)
	}
	for _, cmd := range mine {
		// exit status 0: its TERM trap ran, so SIGTERM (not SIGKILL) came.
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v, want it ended by its TERM handler", cmd.Process.Pid, err)
		}
	}
	if !procs.Running(elsewhere.Process.Pid) {
		t.Error("the process of the same name outside the data directory was signalled")
	}
}
