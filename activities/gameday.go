package activities

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/chaos"
	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/gamedayreport"
	"github.com/infraflow/infraflow/internal/stackop"
)

// ChaosConfig is what game days may break on this worker.
type ChaosConfig struct {
	// ToxiproxyURL is the toxiproxy API network faults go through; empty
	// refuses them.
	ToxiproxyURL string
	// DataDir keeps the records of process kills and the game day plots.
	DataDir string
	// Identity names this worker process (pid@host) in what it measured, so
	// a game day's report shows when another process took over.
	Identity string
}

// ErrTypeChaosRefused marks a fault or probe this worker cannot run as asked
// (no toxiproxy configured, a target that does not exist): retrying the same
// request cannot help.
const ErrTypeChaosRefused = "ChaosRefused"

// RunProbes measures every probe, side by side, and says whether the round
// holds. A probe that cannot measure at all (the target gone, Prometheus
// down) fails the round: the hypothesis cannot be shown to hold. Asked to
// RetryUnmeasured, it fails such a round with a retryable error instead.
func (a *Activities) RunProbes(ctx context.Context, in gameday.ProbeRequest) (gameday.ProbeRound, error) {
	round := gameday.ProbeRound{At: time.Now().UTC(), Worker: a.Chaos.Identity, Phase: in.Phase, OK: true, Results: make([]gameday.ProbeResult, len(in.Probes))}
	defer heartbeatEvery(ctx, 2*time.Second, func() any { return "probing" })()
	var wg sync.WaitGroup
	for i, p := range in.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			round.Results[i] = a.runProbe(ctx, p)
		}()
	}
	wg.Wait()
	for _, r := range round.Results {
		round.OK = round.OK && r.OK
	}
	if ctx.Err() != nil {
		return round, ctx.Err()
	}
	if in.RetryUnmeasured && round.OnlyUnmeasured() {
		return round, temporal.NewApplicationError("the steady state could not be measured: "+unmeasured(round), gameday.ErrTypeUnmeasured, round)
	}
	return round, nil
}

// unmeasured lists the probes of a round that could not measure, and why.
func unmeasured(round gameday.ProbeRound) string {
	var out []string
	for _, r := range round.Results {
		if r.Unmeasured {
			out = append(out, r.Probe+": "+r.Detail)
		}
	}
	return strings.Join(out, "; ")
}

func (a *Activities) runProbe(ctx context.Context, p gameday.Probe) gameday.ProbeResult {
	res := gameday.ProbeResult{Probe: p.Name, Kind: p.Kind}
	var m chaos.Measurement
	var err error
	switch p.Kind {
	case gameday.ProbeHTTP:
		h := p.HTTP
		probe := chaos.HTTPProbe{URL: h.URL, Method: h.Method, Requests: h.Samples, ExpectStatus: h.Status,
			MaxLatency: h.MaxLatency.Value(), Timeout: h.Timeout.Value()}
		// With no maxLatency the spec leaves the percentile out too: the
		// statuses alone decide, and the engine reports its default p95.
		if h.Percentile > 0 {
			probe.Percentile = fmt.Sprintf("p%g", h.Percentile)
		}
		var hm chaos.HTTPMeasurement
		hm, err = chaos.ProbeHTTP(ctx, probe)
		m = hm.Measurement
	case gameday.ProbePrometheus:
		m, err = a.probePrometheus(ctx, *p.Prometheus)
	case gameday.ProbeAvailableReplicas:
		w := p.Workload
		var k *chaos.Kubernetes
		if k, err = a.chaosKubernetes(); err == nil {
			probe := chaos.WorkloadProbe{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Op: chaos.GreaterEqual}
			if w.MinAvailable > 0 {
				threshold := float64(w.MinAvailable)
				probe.Threshold = &threshold
			}
			var wm chaos.WorkloadMeasurement
			wm, err = k.ProbeWorkload(ctx, probe)
			m = wm.Measurement
		}
	case gameday.ProbeASGInService:
		g := p.AutoScalingGroup
		var as *chaos.AutoScaling
		if as, err = a.chaosAutoScaling(ctx); err == nil {
			probe := chaos.GroupProbe{Group: g.Name, Op: chaos.GreaterEqual}
			if g.MinInService > 0 {
				threshold := float64(g.MinInService)
				probe.Threshold = &threshold
			}
			var gm chaos.GroupMeasurement
			gm, err = as.ProbeGroup(ctx, probe)
			m = gm.Measurement
		}
	default:
		err = fmt.Errorf("unknown probe kind %q", p.Kind)
	}
	if err != nil {
		res.Detail = "could not measure: " + err.Error()
		// A refusal (no such Prometheus on this worker, no kubeconfig) is
		// final; anything else may pass once the target is back.
		var refused *temporal.ApplicationError
		res.Unmeasured = !errors.As(err, &refused) || !refused.NonRetryable()
		return res
	}
	res.Value, res.OK = m.Value, m.WithinTolerance
	res.Detail = strings.TrimSpace(fmt.Sprintf("%g %s (want %s) %s", m.Value, m.Unit, m.Tolerance, m.Detail))
	return res
}

// probePrometheus holds the query's value to the spec's min and max.
func (a *Activities) probePrometheus(ctx context.Context, p gameday.PrometheusProbe) (chaos.Measurement, error) {
	server, err := a.prometheusURL(p.Server)
	if err != nil {
		return chaos.Measurement{}, err
	}
	probe := chaos.PrometheusProbe{URL: server, Query: p.Query, Op: chaos.GreaterEqual, Threshold: 0}
	switch {
	case p.Min != nil:
		probe.Threshold = *p.Min
	case p.Max != nil:
		probe.Op, probe.Threshold = chaos.LessEqual, *p.Max
	}
	pm, err := chaos.ProbePrometheus(ctx, probe)
	if err != nil {
		return chaos.Measurement{}, err
	}
	m := pm.Measurement
	if p.Min == nil && p.Max == nil {
		m.WithinTolerance, m.Tolerance = m.NonFinite == "", "any value"
	}
	if p.Min != nil && p.Max != nil {
		m.Tolerance = fmt.Sprintf(">= %g and <= %g", *p.Min, *p.Max)
		m.WithinTolerance = m.WithinTolerance && m.Value <= *p.Max
	}
	return m, nil
}

// InjectFault injects one fault, named by the request's token: a retry after
// a crash finds what the first attempt did instead of doing it twice.
func (a *Activities) InjectFault(ctx context.Context, in gameday.FaultRequest) (gameday.Injection, error) {
	f := in.Fault
	logger := activity.GetLogger(ctx)
	out := gameday.Injection{Worker: a.Chaos.Identity}
	switch {
	case f.Kind.Toxic():
		t, err := a.toxiproxy()
		if err != nil {
			return out, err
		}
		res, err := t.Inject(ctx, networkFault(in))
		if err != nil {
			return out, chaosFailure(err)
		}
		out.Targets = []string{"proxy " + res.Proxy}
		out.Detail = fmt.Sprintf("toxic %s on proxy %s: %v", res.Name, res.Proxy, res.Attributes)
	case f.Kind == gameday.FaultPodDelete:
		k, err := a.chaosKubernetes()
		if err != nil {
			return out, err
		}
		res, err := k.DeletePods(ctx, chaos.PodDelete{Name: in.Token, Namespace: f.Pods.Namespace, Selector: f.Pods.Selector, Selection: selection(in, f.Pods.TargetShare)})
		if err != nil {
			return out, chaosFailure(err)
		}
		out.Targets = res.Deleted
		out.Detail = fmt.Sprintf("deleted %d of %d pods matching %s (blast radius allows %d); undo: %s", len(res.Deleted), res.Matched, f.Pods.Selector, res.Limit, res.Undo)
	case f.Kind == gameday.FaultASGTerminate:
		as, err := a.chaosAutoScaling(ctx)
		if err != nil {
			return out, err
		}
		res, err := as.TerminateInstances(ctx, chaos.InstanceTermination{Name: in.Token, Group: f.Instances.AutoScalingGroup, Selection: selection(in, f.Instances.TargetShare)})
		if err != nil {
			return out, chaosFailure(err)
		}
		out.Targets = res.Terminated
		out.Detail = fmt.Sprintf("terminated %d of %d InService instances of %s; undo: %s", len(res.Terminated), res.Matched, res.Group, res.Undo)
	case f.Kind == gameday.FaultProcessKill:
		// Every process of that name this worker may signal (the spec's
		// promise); the bound only stops a pattern gone wrong.
		res, err := a.processes().Kill(ctx, chaos.ProcessKill{Name: in.Token, Match: a.killablePattern(f.Process.Name),
			Limit: maxProcessesKilled, Signal: f.Process.Signal})
		if err != nil {
			return out, chaosFailure(err)
		}
		for _, p := range res.Killed {
			out.Targets = append(out.Targets, fmt.Sprintf("%d %s", p.PID, p.Command))
		}
		out.Detail = "undo: " + res.Undo
	default:
		return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown fault kind %q", f.Kind), ErrTypeChaosRefused, nil)
	}
	logger.Info("Injected fault", "fault", f.ID(), "token", in.Token, "targets", out.Targets)
	return out, nil
}

// UndoFault takes a fault back; for a toxic it then lists the proxy's toxics
// to show that it is gone.
func (a *Activities) UndoFault(ctx context.Context, in gameday.FaultRequest) (gameday.Undo, error) {
	f := in.Fault
	out := gameday.Undo{Worker: a.Chaos.Identity}
	switch {
	case f.Kind.Toxic():
		t, err := a.toxiproxy()
		if err != nil {
			return out, err
		}
		res, err := t.Undo(ctx, chaos.NetworkFaultRef{Name: in.Token, Proxy: f.Toxic.Proxy})
		if err != nil {
			return out, err
		}
		left, err := t.Faults(ctx, f.Toxic.Proxy)
		var notFound *chaos.NotFoundError
		switch {
		case errors.As(err, &notFound):
			out.Verified, out.Detail = true, "the proxy is gone, and its toxics with it"
		case err != nil:
			return out, fmt.Errorf("reading back the toxics of proxy %s: %w", f.Toxic.Proxy, err)
		case slices.ContainsFunc(left, func(nf chaos.NetworkFault) bool { return nf.Name == in.Token }):
			return out, fmt.Errorf("toxic %s is still on proxy %s after its removal", in.Token, f.Toxic.Proxy)
		default:
			out.Verified = true
			out.Detail = fmt.Sprintf("toxic %s is no longer on proxy %s (%d toxics left)", in.Token, f.Toxic.Proxy, len(left))
		}
		out.Removed = res.Removed
	case f.Kind == gameday.FaultPodDelete:
		k, err := a.chaosKubernetes()
		if err != nil {
			return out, err
		}
		res, err := k.UndoPodDelete(ctx, chaos.PodDeleteRef{Name: in.Token, Namespace: f.Pods.Namespace})
		if err != nil {
			return out, err
		}
		out.Removed, out.Detail = res.Removed, res.Note
	case f.Kind == gameday.FaultASGTerminate:
		as, err := a.chaosAutoScaling(ctx)
		if err != nil {
			return out, err
		}
		res, err := as.UndoInstanceTermination(ctx, chaos.InstanceTerminationRef{Name: in.Token, Group: f.Instances.AutoScalingGroup})
		if err != nil {
			return out, err
		}
		out.Removed, out.Detail = res.Removed, res.Note
	case f.Kind == gameday.FaultProcessKill:
		res, err := a.processes().UndoKill(ctx, chaos.ProcessKillRef{Name: in.Token})
		if err != nil {
			return out, err
		}
		out.Removed, out.Detail = res.Removed, res.Note
	}
	activity.GetLogger(ctx).Info("Undid fault", "fault", f.ID(), "token", in.Token, "verified", out.Verified)
	return out, nil
}

func networkFault(in gameday.FaultRequest) chaos.NetworkFault {
	t := in.Fault.Toxic
	kind := strings.ReplaceAll(string(in.Fault.Kind), "-", "_") // reset-peer is toxiproxy's reset_peer
	return chaos.NetworkFault{Name: in.Token, Proxy: t.Proxy, Type: kind, Direction: t.Stream, Latency: t.Latency.Value(),
		Jitter: t.Jitter.Value(), Timeout: t.Timeout.Value(), RateKBps: int64(t.RateKBps), Toxicity: t.Toxicity}
}

// selection is the share a fault takes, capped by the spec's blast radius and
// chosen by a seed from the token, so a retry chooses the same targets.
func selection(in gameday.FaultRequest, share gameday.TargetShare) chaos.Selection {
	h := fnv.New64a()
	_, _ = h.Write([]byte(in.Token))
	return chaos.Selection{Count: share.Count, Percent: float64(share.Percentage), MaxFraction: float64(in.MaxBlastRadius) / 100, Seed: int64(h.Sum64() >> 1)}
}

// chaosFailure makes a refusal of the request itself (bad input, a target
// that does not exist) final; anything else may pass on a retry.
func chaosFailure(err error) error {
	var input *chaos.InputError
	var notFound *chaos.NotFoundError
	if errors.As(err, &input) || errors.As(err, &notFound) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeChaosRefused, nil)
	}
	return err
}

func (a *Activities) toxiproxy() (*chaos.Toxiproxy, error) {
	if a.Chaos.ToxiproxyURL == "" {
		return nil, temporal.NewNonRetryableApplicationError("this worker has no toxiproxy configured (worker --toxiproxy-address, which make dev starts)", ErrTypeChaosRefused, nil)
	}
	return chaos.NewToxiproxy(a.Chaos.ToxiproxyURL), nil
}

func (a *Activities) chaosKubernetes() (*chaos.Kubernetes, error) {
	cs, err := a.kubernetesClient(ErrTypeChaosRefused)
	if err != nil {
		return nil, err
	}
	return &chaos.Kubernetes{Client: cs}, nil
}

func (a *Activities) chaosAutoScaling(ctx context.Context) (*chaos.AutoScaling, error) {
	c, err := a.autoScalingClient(ctx)
	if err != nil {
		return nil, err
	}
	return &chaos.AutoScaling{Client: c}, nil
}

func (a *Activities) processes() *chaos.Processes {
	return &chaos.Processes{RecordDir: filepath.Join(a.Chaos.DataDir, "chaos", "kills")}
}

// WriteGameDayReport plots every probe's values over time, one panel per
// probe, with the fault windows shaded, under <data-dir>/reports.
func (a *Activities) WriteGameDayReport(ctx context.Context, in gameday.ReportRequest) (gameday.ReportFiles, error) {
	dir := filepath.Join(a.Chaos.DataDir, "reports")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return gameday.ReportFiles{}, err
	}
	base := filepath.Join(dir, "gameday-"+safeFileName(in.WorkflowID))
	files, err := gamedayreport.Chart(in.Title, in.Rounds, in.Faults).Write(base)
	if err != nil {
		return gameday.ReportFiles{}, fmt.Errorf("plotting game day %s: %w", in.WorkflowID, err)
	}
	return gameday.ReportFiles{PNG: files.PNG, SVG: files.SVG}, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeFileName(s string) string { return unsafeFileChars.ReplaceAllString(s, "_") }

// NotifyChat posts a game day's notice to the chat webhook.
func (a *Activities) NotifyChat(ctx context.Context, n gameday.Notice) error {
	logger := activity.GetLogger(ctx)
	if a.ChatWebhookURL == "" {
		logger.Info("No chat webhook configured; notice not posted", "workflowId", n.WorkflowID)
		return nil
	}
	if err := slack.PostWebhookContext(ctx, a.ChatWebhookURL, &slack.WebhookMessage{Text: n.Text}); err != nil {
		return fmt.Errorf("posting the notice of %s to the chat webhook: %w", n.WorkflowID, err)
	}
	logger.Info("Posted game day notice", "workflowId", n.WorkflowID)
	return nil
}

// LastGoodConfig reads the configuration of the stack's last successful up.
func (a *Activities) LastGoodConfig(ctx context.Context, ref stackop.Ref) (map[string]any, error) {
	config, err := a.Pulumi.LastGoodConfig(ctx, ref)
	if err != nil {
		return nil, err
	}
	if config == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("stack %s has no successful up on record to return to", ref), ErrTypeChaosRefused, nil)
	}
	return config, nil
}

// maxProcessesKilled bounds a process kill: the local stack's hosts run one
// app each, and a stack has at most a few dozen hosts.
const maxProcessesKilled = 64

// killablePattern limits a process kill to the processes this worker's local
// platform started (the local stack's hosts and their apps): their command
// lines name a path under the worker's data directory. A game day cannot
// kill the machine's own sshd, or anything else, by naming it.
func (a *Activities) killablePattern(name string) string {
	dir, err := filepath.Abs(a.Chaos.DataDir)
	if err != nil || a.Chaos.DataDir == "" {
		dir = "/nonexistent-infraflow-data-dir"
	}
	return regexp.QuoteMeta(dir+string(filepath.Separator)) + ".*" + regexp.QuoteMeta(name) + "|" + regexp.QuoteMeta(name) + ".*" + regexp.QuoteMeta(dir+string(filepath.Separator))
}
