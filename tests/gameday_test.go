package tests

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"gopkg.in/yaml.v3"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// startAppTarget serves the target a game day puts faults in front of: a
// quick HTTP answer, as the app on the local stack's hosts gives.
func startAppTarget(t *testing.T) string {
	t.Helper()
	// This process binds the port itself, so the kernel's choice cannot be
	// taken by anyone in between.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// createProxy makes the toxiproxy proxy "app" in front of upstream with the
// real toxiproxy-cli, as a person setting up a game day would, and returns
// the address it listens on. toxiproxy binds port 0 itself and reports the
// port it got, so no other process can take the port between a pick and the
// bind.
func (p *platform) createProxy(t *testing.T, upstream string) string {
	t.Helper()
	cli, err := findTool("toxiproxy-cli")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cli, "-h", "http://"+p.toxiproxy, "create", "-l", "127.0.0.1:0", "-u", upstream, "app").CombinedOutput(); err != nil {
		t.Fatalf("toxiproxy-cli create: %v\n%s", err, out)
	}
	proxy, err := toxiproxy.NewClient(p.toxiproxy).Proxy("app")
	if err != nil {
		t.Fatalf("toxiproxy's proxy app: %v", err)
	}
	if strings.HasSuffix(proxy.Listen, ":0") || proxy.Listen == "" {
		t.Fatalf("toxiproxy did not report the port proxy app listens on: %q", proxy.Listen)
	}
	return proxy.Listen
}

// toxics lists the toxics toxiproxy's API says the proxy has.
func (p *platform) toxics(t *testing.T, proxy string) []string {
	t.Helper()
	px, err := toxiproxy.NewClient(p.toxiproxy).Proxy(proxy)
	if err != nil {
		t.Fatal(err)
	}
	list, err := px.Toxics()
	if err != nil {
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

// writeSpecYAML writes the spec as a person would, in YAML, for the
// starter to read.
func writeSpecYAML(t *testing.T, spec gameday.Experiment) string {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	text, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gameday.yaml")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runGameDay starts a game day from a spec file with the starter, as dave,
// and approves it as alice with the approval the starter named.
func (p *platform) runGameDay(t *testing.T, id string, spec gameday.Experiment) {
	t.Helper()
	_, stderr, err := p.starter("gameday", "run", "-f", writeSpecYAML(t, spec), "--id", id, "--requester", "dave")
	if err != nil {
		t.Fatalf("starter gameday run: %v\n%s", err, stderr)
	}
	named := regexp.MustCompile(`(?m)^  approval: +(\S+)`).FindStringSubmatch(stderr)
	if named == nil || !strings.Contains(stderr, "workflow ID: "+id) {
		t.Fatalf("starter gameday run named no approval or another workflow ID:\n%s", stderr)
	}
	if pending := waitPendingApproval(t, p, id); pending != named[1] {
		t.Fatalf("the starter named approval %s, the pending one is %s", named[1], pending)
	}
	if _, stderr, err := p.starter("approve", named[1], "--as", "alice", "--reason", "game day window"); err != nil {
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
	spec := latencyGameDay(proxied, "2m", 2)
	p.runGameDay(t, id, spec)
	res, status := p.gameDayOutcome(t, id)
	if status != "COMPLETED" || res.Outcome != workflows.GameDayAborted || !strings.Contains(res.Reason, "app-latency failed 2 rounds in a row") {
		t.Fatalf("%s %s: %s", status, res.Outcome, res.Reason)
	}
	if left := p.toxics(t, "app"); len(left) != 0 {
		t.Errorf("toxics left on the proxy: %v", left)
	}
	// Two failed rounds, the second starting 2s after the first, each of 3
	// requests of 300ms or more.
	detect := res.DetectedAt.Sub(res.InjectedAt)
	rollback := res.RolledBackAt.Sub(res.DetectedAt)
	recovery := res.RecoveredAt.Sub(res.RolledBackAt)
	t.Logf("detected in %s, rolled back in %s, recovered in %s", detect, rollback, recovery)
	if detect <= 0 || detect > 2*2*time.Second {
		t.Errorf("detected %s after the injection, want within two 2s probe intervals", detect)
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

	t.Run("starter report", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "gd")
		out, stderr, err := p.starter("gameday", "report", id, "--out", base)
		if err != nil {
			t.Fatalf("starter gameday report: %v\n%s", err, stderr)
		}
		for _, want := range []string{
			`(?m)^outcome: +aborted — app-latency failed 2 rounds in a row`,
			`(?m)^hypothesis held: +no$`,
			`(?m)^approval: +approved by alice: game day window$`,
			`(?m)^time to detect: +` + regexp.QuoteMeta(res.TimeToDetect) + `$`,
			`(?m)^time to recover: +` + regexp.QuoteMeta(res.TimeToRecover) + `$`,
			`(?m)^slow-app +latency +\S+ +\S+ +yes +`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("report has no line matching %s:\n%s", want, out)
			}
		}
		rows := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} +(before|method|recovery) +(ok|FAIL) `).FindAllStringSubmatch(out, -1)
		if len(rows) != len(res.Timeline) {
			t.Fatalf("%d timeline rows for %d probe rounds:\n%s", len(rows), len(res.Timeline), out)
		}
		for i, r := range res.Timeline {
			if rows[i][1] != r.Phase || (rows[i][2] == "ok") != r.OK {
				t.Errorf("timeline row %d is %s %s, the round was %s ok=%v", i, rows[i][1], rows[i][2], r.Phase, r.OK)
			}
		}
		f, err := os.Open(base + ".png")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s.png does not decode: %v", base, err)
		}
		svg, err := os.ReadFile(base + ".svg")
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for dec := xml.NewDecoder(bytes.NewReader(svg)); ; {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s.svg does not parse: %v", base, err)
			}
			if cd, ok := tok.(xml.CharData); ok {
				text.Write(cd)
			}
		}
		for _, label := range []string{"slow-app", "app-latency", spec.Title} {
			if !strings.Contains(text.String(), label) {
				t.Errorf("%s.svg has no text %q", base, label)
			}
		}
	})

	t.Run("a dry run followed to its end", func(t *testing.T) {
		dry := spec
		dry.DryRun, dry.Approval = true, nil
		out, stderr, err := p.starter("gameday", "run", "-f", writeSpecYAML(t, dry), "--requester", "dave", "--wait")
		if err != nil {
			t.Fatalf("starter gameday run --wait: %v\n%s", err, stderr)
		}
		// The default ID is the title's first 40 characters and the time.
		if !regexp.MustCompile(`workflow ID: gameday-app-keeps-p95-under-200ms-with-300ms-add-\d{8}-\d{6}\n`).MatchString(stderr) || strings.Contains(stderr, "approval:") {
			t.Errorf("want the default workflow ID and no approval to decide:\n%s", stderr)
		}
		if !regexp.MustCompile(`(?m)^outcome: +dry-run — dry run: the steady state held; no fault was injected$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^slow-app +latency +- +- +- +slow-app: add 300ms latency on proxy app`).MatchString(out) {
			t.Errorf("the report of a dry run: want its outcome and the fault it would inject:\n%s", out)
		}
		if left := p.toxics(t, "app"); len(left) != 0 {
			t.Errorf("a dry run left toxics: %v", left)
		}
	})

	t.Run("a paused Schedule of the same spec", func(t *testing.T) {
		file := writeSpecYAML(t, spec)
		if out, stderr, err := p.starter("gameday", "schedule", "create", "nightly-latency", "-f", file, "--every", "24h", "--paused", "--requester", "dave"); err != nil ||
			!strings.Contains(out, "schedule nightly-latency: GameDay every 24h0m0s") || !strings.Contains(out, "(paused)") {
			t.Fatalf("starter gameday schedule create: %v\n%s%s", err, out, stderr)
		}
		// Schedules are listed through visibility, which may lag a moment.
		listed := func(list func() string, want bool) string {
			t.Helper()
			var out string
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
				if out = list(); strings.Contains(out, "nightly-latency") == want {
					return out
				}
			}
			t.Fatalf("after 30s, listed=%v wanted:\n%s", !want, out)
			return out
		}
		starterList := func() string {
			out, stderr, err := p.starter("gameday", "schedule", "list")
			if err != nil {
				t.Fatalf("starter gameday schedule list: %v\n%s", err, stderr)
			}
			return out
		}
		temporalList := func() string { return p.mustTemporal("schedule", "list") }
		if out := listed(starterList, true); !regexp.MustCompile(`(?m)^nightly-latency +24h0m0s +paused `).MatchString(out) {
			t.Errorf("starter lists the schedule otherwise:\n%s", out)
		}
		listed(temporalList, true)
		describe := p.mustTemporal("schedule", "describe", "--schedule-id", "nightly-latency", "-o", "json")
		if !regexp.MustCompile(`"paused":\s*true`).MatchString(describe) || !strings.Contains(describe, `"GameDay"`) {
			t.Errorf("temporal schedule describe: want a paused schedule of GameDay:\n%s", describe)
		}
		if out, stderr, err := p.starter("gameday", "schedule", "delete", "nightly-latency"); err != nil || !strings.Contains(out, "schedule nightly-latency: deleted") {
			t.Fatalf("starter gameday schedule delete: %v\n%s%s", err, out, stderr)
		}
		listed(temporalList, false)
		if runs := p.mustTemporal("workflow", "list", "--query", "TemporalScheduledById = 'nightly-latency'"); strings.Contains(runs, "nightly-latency") {
			t.Errorf("the paused schedule started game days:\n%s", runs)
		}
	})
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
		// A cancelled run has no result; its query still has the report,
		// rollback included.
		out, stderr, err := p.starter("gameday", "report", id)
		if err != nil || !strings.Contains(stderr, "ended canceled without a result; read through its gameday query") ||
			!regexp.MustCompile(`(?m)^outcome: +aborted — cancelled during the method$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^slow-app +latency +\S+ +\S+ +yes +`).MatchString(out) {
			t.Errorf("starter gameday report of a cancelled game day: %v\n%s%s", err, out, stderr)
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
