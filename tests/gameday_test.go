package tests

import (
	"encoding/json"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// startAppTarget serves the target a game day puts faults in front of: a
// quick HTTP answer, as the app on the local stack's hosts gives.
func startAppTarget(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return addr
}

// createProxy makes the toxiproxy proxy "app" in front of upstream with the
// real toxiproxy-cli, as a person setting up a game day would, and returns
// the address it listens on.
func (p *platform) createProxy(t *testing.T, upstream string) string {
	t.Helper()
	cli, err := findTool("toxiproxy-cli")
	if err != nil {
		t.Fatal(err)
	}
	listen, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cli, "-h", "http://"+p.toxiproxy, "create", "-l", listen, "-u", upstream, "app").CombinedOutput(); err != nil {
		t.Fatalf("toxiproxy-cli create: %v\n%s", err, out)
	}
	return listen
}

// toxics lists the toxics toxiproxy's API says the proxy has.
func (p *platform) toxics(t *testing.T, proxy string) []string {
	t.Helper()
	resp, err := http.Get("http://" + p.toxiproxy + "/proxies/" + proxy + "/toxics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	return names
}

// gameDayOutcome waits for the game day's result through the temporal CLI.
func (p *platform) gameDayOutcome(t *testing.T, id string) (workflows.GameDayResult, string) {
	t.Helper()
	out, _ := p.temporal("workflow", "result", "--workflow-id", id, "-o", "json")
	var res struct {
		Status string                  `json:"status"`
		Result workflows.GameDayResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("workflow result %s: %v\n%s", id, err, out)
	}
	return res.Result, res.Status
}

// startGameDay starts a game day from the temporal CLI and approves it as
// alice with the starter.
func (p *platform) startGameDay(t *testing.T, id string, spec gameday.Experiment) {
	t.Helper()
	input, err := json.Marshal(workflows.GameDayInput{Spec: spec, Requester: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	p.mustTemporal("workflow", "start", "--type", "GameDay", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", string(input))
	approval := waitPendingApproval(t, p, id)
	if _, stderr, err := p.starter("approve", approval, "--as", "alice", "--reason", "game day window"); err != nil {
		t.Fatalf("approve: %v %s", err, stderr)
	}
}

// latencyGameDay is 300ms of latency on the proxy against a 200ms p95 SLO.
func latencyGameDay(proxied string, faultFor string, abortAfter int) gameday.Experiment {
	spec := gameday.Experiment{
		Title: "app keeps p95 under 200ms with 300ms added", ProbeInterval: "2s", RecoveryTimeout: "30s",
		Approval: &gameday.Approval{Groups: []string{"sre"}},
		SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "app-latency", Kind: gameday.ProbeHTTP,
			HTTP: &gameday.HTTPProbe{URL: "http://" + proxied + "/", Samples: 3, Timeout: "2s", Percentile: 95, MaxLatency: "200ms"}}}},
		Method: []gameday.Fault{{Name: "slow-app", Kind: gameday.FaultLatency, Duration: gameday.Duration(faultFor),
			Toxic: &gameday.Toxic{Proxy: "app", Latency: "300ms"}}},
		Remediation: []gameday.Action{{Name: "tell-sre", Kind: gameday.ActionNotify, Message: "the app is still slow after the game day"}},
	}
	if abortAfter > 0 {
		spec.Abort = []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Probe: "app-latency", Count: abortAfter}}
	} else {
		// The hypothesis is expected to break: these runs are about the
		// rollback, so nothing aborts them early.
		spec.Abort = []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Count: 1000}}
	}
	return spec
}

// The latency fault breaks the SLO probe, the game day aborts within two
// probe intervals, the toxic is gone (toxiproxy's API says so), the steady
// state returns, and the report has its times, its plot and a chat notice.
func TestGameDayLatencyFaultAbortsAndRollsBack(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes().withToxiproxy()
	p.start()
	proxied := p.createProxy(t, startAppTarget(t))
	id := "gameday-latency"
	p.startGameDay(t, id, latencyGameDay(proxied, "2m", 2))
	res, status := p.gameDayOutcome(t, id)
	if status != "COMPLETED" || res.Outcome != workflows.GameDayAborted || !strings.Contains(res.Reason, "app-latency failed 2 rounds in a row") {
		t.Fatalf("%s %s: %s", status, res.Outcome, res.Reason)
	}
	if left := p.toxics(t, "app"); len(left) != 0 {
		t.Errorf("toxics left on the proxy: %v", left)
	}
	// Two failed rounds 2s apart, each of 3 requests of 300ms or more.
	detect := res.DetectedAt.Sub(res.InjectedAt)
	rollback := res.RolledBackAt.Sub(res.DetectedAt)
	recovery := res.RecoveredAt.Sub(res.RolledBackAt)
	t.Logf("detected in %s, rolled back in %s, recovered in %s", detect, rollback, recovery)
	if detect <= 0 || detect > 2*2*time.Second+2*time.Second {
		t.Errorf("detected %s after the injection, want within two 2s probe intervals (plus the rounds' own time)", detect)
	}
	if rollback < 0 || rollback > 5*time.Second {
		t.Errorf("rolled back %s after detection, want within 5s", rollback)
	}
	if res.RecoveredAt.IsZero() || recovery > 30*time.Second {
		t.Errorf("recovered at %s (%s after the rollback), want within the 30s bound", res.RecoveredAt, recovery)
	}
	f := res.Faults[0]
	if f.Undo == nil || !f.Undo.Verified || !f.Undo.Removed {
		t.Errorf("fault %+v: want a verified removal", f)
	}
	for _, r := range res.Timeline {
		if r.Phase == "method" && (r.OK || r.Results[0].Value < 0.3) {
			t.Errorf("a method round held or measured under 300ms: %+v", r)
		}
	}
	if res.Plot == nil {
		t.Fatal("no plot")
	}
	if f, err := os.Open(res.Plot.PNG); err != nil {
		t.Errorf("plot: %v", err)
	} else {
		if _, err := png.Decode(f); err != nil {
			t.Errorf("plot %s does not decode: %v", res.Plot.PNG, err)
		}
		f.Close()
	}
	if svg, err := os.ReadFile(res.Plot.SVG); err != nil || !strings.Contains(string(svg), "slow-app") {
		t.Errorf("SVG plot %s lacks the fault window's label slow-app: %v", res.Plot.SVG, err)
	}
	p.webhook.waitFor(t, "Game day", "aborted", "detected in")
}

// The rollback runs however the game day ends: cancelled from the temporal
// CLI during the fault, or with the worker SIGKILLed during the fault and
// started again. No toxic is left, and the report records the takeover.
func TestGameDayRollsBackWhenCancelledOrItsWorkerDies(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes().withToxiproxy()
	workerArgs, _ := p.startWithSeparateWorker("gameday")
	workerArgs = append(workerArgs, "--toxiproxy-url", "http://"+p.toxiproxy, "--chat-webhook-url", p.webhook.url())
	proxied := p.createProxy(t, startAppTarget(t))
	worker := startProcess(t, workerBin, workerArgs...)
	waitToxic := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); len(p.toxics(t, "app")) == 0; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no toxic on the proxy after 2 minutes", id)
			}
		}
	}

	t.Run("cancelled", func(t *testing.T) {
		id := "gameday-cancelled"
		p.startGameDay(t, id, latencyGameDay(proxied, "5m", 0))
		waitToxic(id)
		p.mustTemporal("workflow", "cancel", "--workflow-id", id)
		if _, status := p.gameDayOutcome(t, id); status != "CANCELED" {
			t.Errorf("status %s, want CANCELED", status)
		}
		if left := p.toxics(t, "app"); len(left) != 0 {
			t.Errorf("toxics left after the cancel: %v", left)
		}
	})

	t.Run("worker killed", func(t *testing.T) {
		id := "gameday-killed"
		p.startGameDay(t, id, latencyGameDay(proxied, "20s", 0))
		waitToxic(id)
		worker.kill()
		time.Sleep(3 * time.Second) // the fault stays in while no worker runs
		if left := p.toxics(t, "app"); len(left) != 1 {
			t.Fatalf("toxics while the worker is down: %v, want the one", left)
		}
		worker = startProcess(t, workerBin, workerArgs...)
		res, status := p.gameDayOutcome(t, id)
		if status != "COMPLETED" || res.Faults[0].Undo == nil || !res.Faults[0].Undo.Verified {
			t.Fatalf("%s %+v", status, res)
		}
		if left := p.toxics(t, "app"); len(left) != 0 {
			t.Errorf("toxics left after the restart: %v", left)
		}
		if len(res.Interrupted) == 0 || !strings.Contains(res.Interrupted[0], "took over") {
			t.Errorf("interruptions %q, want the restarted worker's takeover", res.Interrupted)
		}
		if res.RecoveredAt.IsZero() {
			t.Errorf("the steady state did not return: %+v", res.Timeline[len(res.Timeline)-1])
		}
	})
}

// An unsteady system at the start gets no fault.
func TestGameDayOnAnUnsteadySystemInjectsNothing(t *testing.T) {
	t.Parallel()
	p := newPlatform(t).withoutKubernetes().withToxiproxy()
	p.start()
	dead, err := freeport.Addr("127.0.0.1") // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	proxied := p.createProxy(t, dead)
	id := "gameday-unsteady"
	p.startGameDay(t, id, latencyGameDay(proxied, "1m", 2))
	res, status := p.gameDayOutcome(t, id)
	if status != "COMPLETED" || res.Outcome != workflows.GameDayNotSteady || !res.InjectedAt.IsZero() {
		t.Fatalf("%s %s (%s), injected at %s: want not-steady and no fault", status, res.Outcome, res.Reason, res.InjectedAt)
	}
	if history := p.mustTemporal("workflow", "show", "--workflow-id", id, "-o", "json"); strings.Contains(history, "InjectFault") {
		t.Error("InjectFault ran on an unsteady system")
	}
	if !strings.Contains(res.Reason, "app-latency") {
		t.Errorf("reason %q does not name the failing probe", res.Reason)
	}
}
