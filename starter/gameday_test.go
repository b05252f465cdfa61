package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// fakeFrontend counts the connections made to it and drops each at once: a
// command that contacts Temporal is seen, and fails fast.
func fakeFrontend(t *testing.T) (addr string, contacts func() int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), func() int64 {
		// Accepting runs beside the command: let a connection made at its
		// very end be counted.
		time.Sleep(50 * time.Millisecond)
		return n.Load()
	}
}

// runStarter runs the CLI in-process with args against the frontend at addr.
func runStarter(t *testing.T, addr string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("INFRAFLOW_SIGNING_KEY", "")
	root := newRootCommand(&app{})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--address", addr, "--insecure-no-codec"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func writeSpec(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func exampleSpec(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../internal/gameday/examples/latency.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A spec with problems is refused with one file:line:column line per
// problem, and nothing reaches Temporal, whether the game day is run once or
// scheduled. The workflow's own checks of the whole input are placed in the
// file too.
func TestGameDaySpecProblemsAreRefusedBeforeContactingTemporal(t *testing.T) {
	latency := exampleSpec(t)
	cases := []struct {
		name, file, spec string
		want             []string
	}{
		{"malformed YAML", "bad.yaml", "title: broken\napproval:\n  groups: [sre]\nsteadyState:\n  probes:\n    - name: app\n      kind: http\n     http: {url: \"http://127.0.0.1:18080/\"}\n",
			[]string{`bad.yaml:5:1: spec: is not valid YAML: did not find expected '-' indicator; fix the YAML at that line: indentation, a missing colon, quote or bracket`}},
		{"unknown fault kind", "latency.yaml", strings.Replace(latency, "kind: latency", "kind: latncy", 1),
			[]string{`latency.yaml:31:5: method[0].kind: unknown fault kind "latncy"; use one of latency, timeout, bandwidth, reset-peer, pod-delete, process-kill or asg-terminate`}},
		{"two problems", "two.yaml", strings.Replace(strings.Replace(latency, "duration: 2m", "duration: forever", 1), "count: 3", "count: three", 1),
			[]string{`two.yaml:32:5: method[0].duration: "forever" is not a duration; `, `two.yaml:40:12: abort[0].count: got the string "three", want a whole number`}},
		// Valid as a spec, but 5s rounds over 2m of faults and 2×45m of
		// recovery are more than a game day's history records.
		{"too many probe rounds", "rounds.yaml", strings.Replace(latency, "recoveryTimeout: 1m", "recoveryTimeout: 45m", 1),
			[]string{`rounds.yaml:11:1: probeInterval: gives 1104 probe rounds over the method and recovery, more than the 1000 one game day records; probe less often, or split the experiment into shorter game days`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeSpec(t, c.file, c.spec)
			for _, command := range [][]string{
				{"gameday", "run", "-f", path, "--requester", "dave"},
				{"gameday", "schedule", "create", "nightly", "-f", path, "--every", "24h"},
			} {
				addr, contacts := fakeFrontend(t)
				_, stderr, err := runStarter(t, addr, command...)
				if err == nil || !strings.Contains(err.Error(), "in the spec (above); nothing was sent to Temporal") {
					t.Fatalf("%s: error %v, want the spec refused", command[1], err)
				}
				lines := strings.Split(strings.ReplaceAll(stderr, filepath.Dir(path)+string(filepath.Separator), ""), "\n")
				for i, want := range c.want {
					if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
						t.Errorf("%s: stderr line %d does not start %q:\n%s", command[1], i+1, want, stderr)
					}
				}
				if n := contacts(); n != 0 {
					t.Errorf("%s: %d connections to Temporal, want none", command[1], n)
				}
			}
		})
	}

	// The same spec, valid, does try to reach Temporal: the count above
	// would have seen it.
	addr, contacts := fakeFrontend(t)
	_, _, err := runStarter(t, addr, "gameday", "run", "-f", writeSpec(t, "ok.yaml", latency))
	if err == nil || !strings.Contains(err.Error(), "connecting to Temporal at "+addr) {
		t.Errorf("a valid spec: error %v, want a failed connection to %s", err, addr)
	}
	if contacts() == 0 {
		t.Error("a valid spec did not contact the frontend")
	}
}

func TestGameDayRunNeedsASpecFile(t *testing.T) {
	addr, contacts := fakeFrontend(t)
	if _, _, err := runStarter(t, addr, "gameday", "run"); err == nil || !strings.Contains(err.Error(), `"file" not set`) {
		t.Errorf("no -f: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if _, _, err := runStarter(t, addr, "gameday", "run", "-f", missing); err == nil || !strings.Contains(err.Error(), "-f: open "+missing) {
		t.Errorf("a missing file: %v", err)
	}
	if n := contacts(); n != 0 {
		t.Errorf("%d connections to Temporal, want none", n)
	}
}

func TestGameDayIDIsTheTitleAndTheTime(t *testing.T) {
	at := time.Date(2026, 11, 30, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	for title, want := range map[string]string{
		"web keeps its p95 under 500ms with 200ms of added latency": "gameday-web-keeps-its-p95-under-500ms-with-200ms-20261130-140405",
		"  Checkout: survives -- a lost AZ!  ":                      "gameday-checkout-survives-a-lost-az-20261130-140405",
		"Überprüfung":                                               "gameday-berpr-fung-20261130-140405",
		"!!!":                                                       "gameday-20261130-140405",
	} {
		if got := gameDayID(title, at); got != want {
			t.Errorf("gameDayID(%q) = %s, want %s", title, got, want)
		}
	}
}

var t0 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

// abortedGameDay is a latency game day as the workflow records one that
// aborted: four rounds of two probes, the fault in for two of them.
func abortedGameDay() workflows.GameDayResult {
	round := func(ms int, phase string, latency float64, ok bool) gameday.ProbeRound {
		return gameday.ProbeRound{At: t0.Add(time.Duration(ms) * time.Millisecond), Phase: phase, OK: ok, Results: []gameday.ProbeResult{
			{Probe: "app-latency", Kind: gameday.ProbeHTTP, Value: latency, OK: ok},
			{Probe: "targets-up", Kind: gameday.ProbePrometheus, Value: 1, OK: true},
		}}
	}
	injected, undone := t0.Add(1500*time.Millisecond), t0.Add(5518*time.Millisecond)
	return workflows.GameDayResult{
		Title: "app keeps p95 under 200ms", Outcome: workflows.GameDayAborted, Reason: "app-latency failed 2 rounds in a row",
		Approval: workflows.ApprovalStatus{Status: workflows.ApprovalApproved, ClosedBy: "alice", Reason: "game day\nwindow"},
		Score:    0,
		Faults: []workflows.GameDayFault{{Name: "slow-app", Kind: gameday.FaultLatency, InjectedAt: injected, UndoneAt: undone,
			Injection: &gameday.Injection{Detail: "toxic gameday-1-slow-app on proxy app"},
			Undo:      &gameday.Undo{Removed: true, Verified: true, Detail: "toxic gameday-1-slow-app is no longer on proxy app (0 toxics left)"}}},
		Timeline: []gameday.ProbeRound{round(0, "before", 0.0123, true), round(2000, "method", 0.3104, false),
			round(4000, "method", 0.3187, false), round(6000, "recovery", 0.000412, true)},
		Rollbacks:   []workflows.GameDayAction{{Name: "provision-stack-1", Kind: gameday.ActionProvisionStack, Status: "completed", Detail: "ProvisionStack provision-local-dev"}},
		Remediation: nil,
		InjectedAt:  injected, DetectedAt: t0.Add(5500 * time.Millisecond), RolledBackAt: undone, RecoveredAt: t0.Add(6 * time.Second),
		TimeToDetect: "4s", TimeToRollBack: "18ms", TimeToRecover: "482ms",
		Interrupted: []string{"2026-11-30T14:00:03Z: worker 2@b took over from 1@a (killed, restarted or replaced)"},
		Plot:        &gameday.ReportFiles{PNG: "/data/reports/gameday-x.png", SVG: "/data/reports/gameday-x.svg"},
	}
}

func TestGameDayReportSaysWhatHappenedAndTabulatesTheRounds(t *testing.T) {
	var b bytes.Buffer
	if err := writeGameDayReport(&b, "gameday-latency", abortedGameDay()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"game day:           gameday-latency: app keeps p95 under 200ms\n",
		"outcome:            aborted — app-latency failed 2 rounds in a row\n",
		"hypothesis held:    no\n",
		"score:              0/100\n",
		"approval:           approved by alice: game day window\n",
		"first fault:        2026-11-30 14:00:01.500 UTC\n",
		"time to detect:     4s\n",
		"time to roll back:  18ms\n",
		"time to recover:    482ms\n",
		"interruptions:      2026-11-30T14:00:03Z: worker 2@b took over from 1@a (killed, restarted or replaced)\n",
		"plot on worker:     /data/reports/gameday-x.png\n                    /data/reports/gameday-x.svg\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	rows := map[string]*regexp.Regexp{
		"fault":    regexp.MustCompile(`(?m)^slow-app +latency +14:00:01\.500 +14:00:05\.518 +yes +toxic gameday-1-slow-app on proxy app; undone: toxic gameday-1-slow-app is no longer on proxy app \(0 toxics left\)$`),
		"rollback": regexp.MustCompile(`(?m)^ROLLBACK +KIND +STATUS +DETAIL\nprovision-stack-1 +provision-stack +completed +ProvisionStack provision-local-dev$`),
		"header":   regexp.MustCompile(`(?m)^TIME \(UTC\) +PHASE +ROUND +FAULTS IN +app-latency +targets-up$`),
		// Latency as a duration, a count as a number; the fault is in for
		// the rounds between its injection and its undo only.
		"before":   regexp.MustCompile(`(?m)^14:00:00\.000 +before +ok +- +12\.3ms ok +1 ok$`),
		"method":   regexp.MustCompile(`(?m)^14:00:02\.000 +method +FAIL +slow-app +310ms FAIL +1 ok$`),
		"method 2": regexp.MustCompile(`(?m)^14:00:04\.000 +method +FAIL +slow-app +319ms FAIL +1 ok$`),
		"recovery": regexp.MustCompile(`(?m)^14:00:06\.000 +recovery +ok +- +412µs ok +1 ok$`),
	}
	for name, re := range rows {
		if !re.MatchString(out) {
			t.Errorf("no %s row matching %s:\n%s", name, re, out)
		}
	}
	if strings.Contains(out, "REMEDIATION") || strings.Contains(out, "people needed") {
		t.Errorf("a report without remediation shows it:\n%s", out)
	}
}

// A game day read while it waits for approval has no outcome, fault or
// round yet, and says so instead of showing zeros as results.
func TestGameDayReportOfARunStillWaiting(t *testing.T) {
	var b bytes.Buffer
	if err := writeGameDayReport(&b, "gameday-new", workflows.GameDayResult{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"outcome:            none yet: the game day is still going on\n", "approval:           -\n",
		"time to detect:     -\n", "interruptions:      none\n", "faults: none injected\n", "timeline: no probe rounds yet\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
