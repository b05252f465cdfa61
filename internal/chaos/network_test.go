package chaos

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/testtier"
)

// bigBody is what /big serves: enough bytes that a bandwidth limit shows.
const bigBody = 100_000

// proxiedService starts a small HTTP service and a real toxiproxy server, and
// puts a proxy named web in front of the service. It returns the engine and
// the service's URL through the proxy.
func proxiedService(t *testing.T) (*Toxiproxy, string) {
	t.Helper()
	testtier.PinnedTools(t, "toxiproxy-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(make([]byte, bigBody)) })
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tp, err := localenv.StartToxiproxy(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.Stop)
	engine := NewToxiproxy(tp.URL)
	proxy, err := engine.EnsureProxy(ctx, Proxy{Name: "web", Listen: "127.0.0.1:0", Upstream: l.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(proxy.Listen, ":0") {
		t.Fatalf("proxy %+v: want the port toxiproxy picked", proxy)
	}
	// Ensuring the same proxy again changes nothing: same listen address.
	again, err := engine.EnsureProxy(ctx, Proxy{Name: "web", Listen: "127.0.0.1:0", Upstream: l.Addr().String()})
	if err != nil || again != proxy {
		t.Fatalf("EnsureProxy again: %+v %v, want %+v unchanged", again, err, proxy)
	}
	return engine, "http://" + proxy.Listen
}

func TestLatencyFaultIsMeasuredByTheHTTPProbeAndUndone(t *testing.T) {
	engine, base := proxiedService(t)
	ctx := context.Background()
	probe := HTTPProbe{URL: base + "/", Requests: 5, Percentile: "p50", MaxLatency: 100 * time.Millisecond}

	before, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	if !before.WithinTolerance || before.Failed != 0 || before.Value >= 0.1 {
		t.Fatalf("before the fault: %+v, want 5 fast answers", before)
	}

	fault := NetworkFault{Name: "gameday-r1-0", Proxy: "web", Type: Latency, Latency: 300 * time.Millisecond}
	injected, err := engine.Inject(ctx, fault)
	if err != nil || injected.AlreadyInjected {
		t.Fatalf("inject: %+v %v", injected, err)
	}
	during, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("p50 before %.4fs, with a 300ms latency toxic %.4fs (p95 %.4fs)", before.P50, during.P50, during.P95)
	if during.Value < 0.29 || during.WithinTolerance || during.Failed != 0 || !strings.Contains(during.Detail, "latency") {
		t.Errorf("with 300ms latency: %+v, want p50 >= 0.29s, out of tolerance for latency alone", during)
	}

	// A retried inject finds the toxic: one toxic, not two.
	retried, err := engine.Inject(ctx, fault)
	if err != nil || !retried.AlreadyInjected {
		t.Fatalf("inject again: %+v %v, want already present", retried, err)
	}
	faults, err := engine.Faults(ctx, "web")
	if err != nil || len(faults) != 1 || faults[0].Name != fault.Name || faults[0].Latency != 300*time.Millisecond || faults[0].Direction != Downstream {
		t.Fatalf("toxics after two injects: %+v %v, want the one latency toxic", faults, err)
	}
	// An inject with other attributes under the same name brings the toxic to them.
	fault.Latency, fault.Jitter = 200*time.Millisecond, 10*time.Millisecond
	if changed, err := engine.Inject(ctx, fault); err != nil || !changed.AlreadyInjected || changed.Attributes["latency"] != float64(200) {
		t.Errorf("inject with 200ms: %+v %v, want the toxic updated in place", changed, err)
	}
	// The same name with another type is a conflict, and leaves the toxic alone.
	var inputErr *InputError
	if _, err := engine.Inject(ctx, NetworkFault{Name: fault.Name, Proxy: "web", Type: Bandwidth, RateKBps: 10}); !errors.As(err, &inputErr) || inputErr.Field != "name" {
		t.Errorf("same name, another type: err = %v, want an InputError naming name", err)
	}

	undone, err := engine.Undo(ctx, NetworkFaultRef{Name: fault.Name, Proxy: "web"})
	if err != nil || !undone.Removed {
		t.Fatalf("undo: %+v %v", undone, err)
	}
	after, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("p50 after undo %.4fs", after.P50)
	if !after.WithinTolerance || after.Value >= 0.1 {
		t.Errorf("after undo: %+v, want fast again", after)
	}
	// Undo again (a retry), and undo on a proxy that does not exist: both fine.
	if again, err := engine.Undo(ctx, NetworkFaultRef{Name: fault.Name, Proxy: "web"}); err != nil || again.Removed {
		t.Errorf("second undo: %+v %v, want nothing removed and no error", again, err)
	}
	if gone, err := engine.Undo(ctx, NetworkFaultRef{Name: fault.Name, Proxy: "nope"}); err != nil || gone.Removed {
		t.Errorf("undo on a missing proxy: %+v %v, want nothing removed and no error", gone, err)
	}
	if faults, _ := engine.Faults(ctx, "web"); len(faults) != 0 {
		t.Errorf("toxics after undo: %+v", faults)
	}
	var notFound *NotFoundError
	if _, err := engine.Inject(ctx, NetworkFault{Name: "x", Proxy: "nope", Type: Latency, Latency: time.Second}); !errors.As(err, &notFound) {
		t.Errorf("inject on a missing proxy: err = %v, want NotFoundError", err)
	}
}

func TestTimeoutAndResetPeerFaultsMakeRequestsFail(t *testing.T) {
	engine, base := proxiedService(t)
	ctx := context.Background()
	probe := HTTPProbe{URL: base + "/", Requests: 3, MaxLatency: time.Second, Timeout: 700 * time.Millisecond}

	// timeout 0 upstream: the requests are swallowed and the connections held
	// open, so each request waits for the probe's own timeout.
	if _, err := engine.Inject(ctx, NetworkFault{Name: "gameday-r2-0", Proxy: "web", Type: Timeout, Direction: Upstream}); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	held, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upstream timeout toxic: %d/%d failed in %s, p50 %.3fs, errors %q", held.Failed, held.Requests, time.Since(started).Round(time.Millisecond), held.P50, held.Errors)
	if held.Failed != 3 || held.WithinTolerance || held.P50 < 0.69 || !strings.Contains(strings.Join(held.Errors, " "), "Timeout") {
		t.Errorf("with an upstream timeout toxic: %+v, want 3 requests failing at the 700ms timeout", held)
	}
	if _, err := engine.Undo(ctx, NetworkFaultRef{Name: "gameday-r2-0", Proxy: "web"}); err != nil {
		t.Fatal(err)
	}
	// Downstream, the answers are swallowed; the service closes each
	// connection after answering (no keep-alive) and the client sees it end
	// with no answer.
	if _, err := engine.Inject(ctx, NetworkFault{Name: "gameday-r2-2", Proxy: "web", Type: Timeout, Timeout: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	swallowed, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("downstream timeout toxic: %d/%d failed, p50 %.3fs, errors %q", swallowed.Failed, swallowed.Requests, swallowed.P50, swallowed.Errors)
	if swallowed.Failed != 3 || swallowed.WithinTolerance || len(swallowed.Statuses) != 0 {
		t.Errorf("with a downstream timeout toxic: %+v, want 3 requests without an answer", swallowed)
	}
	if _, err := engine.Undo(ctx, NetworkFaultRef{Name: "gameday-r2-2", Proxy: "web"}); err != nil {
		t.Fatal(err)
	}

	if _, err := engine.Inject(ctx, NetworkFault{Name: "gameday-r2-1", Proxy: "web", Type: ResetPeer}); err != nil {
		t.Fatal(err)
	}
	reset, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reset_peer toxic: %d/%d failed, errors %q", reset.Failed, reset.Requests, reset.Errors)
	if reset.Failed != 3 || reset.WithinTolerance || !strings.Contains(strings.Join(reset.Errors, " "), "reset") {
		t.Errorf("with a reset_peer toxic: %+v, want 3 connections reset", reset)
	}
	if _, err := engine.Undo(ctx, NetworkFaultRef{Name: "gameday-r2-1", Proxy: "web"}); err != nil {
		t.Fatal(err)
	}
	if healthy, err := ProbeHTTP(ctx, probe); err != nil || !healthy.WithinTolerance {
		t.Errorf("after both undos: %+v %v, want healthy", healthy, err)
	}
}

func TestBandwidthFaultLimitsThroughput(t *testing.T) {
	engine, base := proxiedService(t)
	ctx := context.Background()
	probe := HTTPProbe{URL: base + "/big", Requests: 2, Percentile: "p50", MaxLatency: 500 * time.Millisecond}
	fast, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	const rateKBps = 50
	if _, err := engine.Inject(ctx, NetworkFault{Name: "gameday-r3-0", Proxy: "web", Type: Bandwidth, RateKBps: rateKBps}); err != nil {
		t.Fatal(err)
	}
	slow, err := ProbeHTTP(ctx, probe)
	if err != nil {
		t.Fatal(err)
	}
	// toxiproxy's KB is 1000 bytes: 100,000 bytes at 50 KB/s take 2 s.
	fastRate, slowRate := bigBody/1000/fast.Value, bigBody/1000/slow.Value
	t.Logf("%d bytes: %.3fs (%.0f KB/s) without the toxic, %.3fs (%.1f KB/s) with a %d KB/s limit", bigBody, fast.Value, fastRate, slow.Value, slowRate, rateKBps)
	if !fast.WithinTolerance || slow.WithinTolerance || slow.Failed != 0 {
		t.Errorf("without %+v / with %+v: want fast, then slow but successful", fast, slow)
	}
	if slowRate > rateKBps*1.1 || slowRate < rateKBps*0.5 || fastRate < 10*rateKBps {
		t.Errorf("throughput %.1f KB/s with the limit (want about %d), %.0f KB/s without", slowRate, rateKBps, fastRate)
	}
	if _, err := engine.Undo(ctx, NetworkFaultRef{Name: "gameday-r3-0", Proxy: "web"}); err != nil {
		t.Fatal(err)
	}
}

func TestNetworkFaultInputIsCheckedBeforeToxiproxyIsAsked(t *testing.T) {
	engine := NewToxiproxy("http://127.0.0.1:1") // nothing listens: input errors come first
	for _, tc := range []struct {
		fault NetworkFault
		field string
	}{
		{NetworkFault{Name: "", Proxy: "web", Type: Latency, Latency: time.Second}, "name"},
		{NetworkFault{Name: "run/1", Proxy: "web", Type: Latency, Latency: time.Second}, "name"}, // a slash would change toxiproxy's URL path
		{NetworkFault{Name: "f", Proxy: "", Type: Latency, Latency: time.Second}, "proxy"},
		{NetworkFault{Name: "f", Proxy: "web/x", Type: Latency, Latency: time.Second}, "proxy"},
		{NetworkFault{Name: "f", Proxy: "web", Type: "slow"}, "type"},
		{NetworkFault{Name: "f", Proxy: "web", Type: Latency}, "latency"},
		{NetworkFault{Name: "f", Proxy: "web", Type: Latency, Latency: time.Second, Jitter: 2 * time.Second}, "jitter"},
		{NetworkFault{Name: "f", Proxy: "web", Type: Bandwidth}, "rateKBps"},
		{NetworkFault{Name: "f", Proxy: "web", Type: Timeout, Direction: "sideways"}, "direction"},
		{NetworkFault{Name: "f", Proxy: "web", Type: ResetPeer, Toxicity: 1.5}, "toxicity"},
	} {
		var inputErr *InputError
		if _, err := engine.Inject(context.Background(), tc.fault); !errors.As(err, &inputErr) || inputErr.Field != tc.field || inputErr.Fix == "" {
			t.Errorf("%+v: err = %v, want an InputError naming %s with a fix", tc.fault, err, tc.field)
		}
	}
	if _, err := engine.Inject(context.Background(), NetworkFault{Name: "f", Proxy: "web", Type: Latency, Latency: time.Second}); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("toxiproxy unreachable: err = %v, want the API address named", err)
	}
}
