package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func names(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("web-%d", i))
	}
	return out
}

func TestSelectionIsDeterministicBySeedAndCappedByTheBlastRadius(t *testing.T) {
	pods := names(10)
	s := Selection{Count: 4, MaxFraction: 1, Seed: 42}
	a, err := s.choose(pods, "pods")
	if err != nil || len(a.Chosen) != 4 {
		t.Fatalf("4 of 10: %+v %v", a, err)
	}
	// Listed in another order, the same seed chooses the same pods.
	reversed := slices.Clone(pods)
	slices.Reverse(reversed)
	if b, _ := s.choose(reversed, "pods"); !slices.Equal(a.Chosen, b.Chosen) {
		t.Errorf("order changed the choice: %v vs %v", a.Chosen, b.Chosen)
	}
	// Other seeds choose other sets (all ten seeds choosing the same would be a broken hash).
	distinct := map[string]bool{}
	for seed := range int64(10) {
		c, _ := Selection{Count: 4, MaxFraction: 1, Seed: seed}.choose(pods, "pods")
		distinct[strings.Join(c.Chosen, ",")] = true
	}
	if len(distinct) < 5 {
		t.Errorf("10 seeds chose only %d distinct sets", len(distinct))
	}
	for _, tc := range []struct {
		s                   Selection
		n                   int
		wanted, limit, take int
		capped              bool
	}{
		{Selection{Count: 5, MaxFraction: 0.3}, 10, 5, 3, 3, true},
		{Selection{Count: 2, MaxFraction: 0.3}, 10, 2, 3, 2, false},
		{Selection{Percent: 25, MaxFraction: 1}, 10, 3, 10, 3, false}, // 2.5 rounds up
		{Selection{Percent: 100, MaxFraction: 0.5}, 7, 7, 3, 3, true}, // 3.5 rounds down
		{Selection{Count: 20, MaxFraction: 1}, 3, 20, 3, 3, true},
	} {
		c, err := tc.s.choose(names(tc.n), "pods")
		if err != nil || c.Wanted != tc.wanted || c.Limit != tc.limit || len(c.Chosen) != tc.take || c.Capped != tc.capped || c.Matched != tc.n {
			t.Errorf("%+v of %d: %+v %v, want wanted %d limit %d take %d capped %v", tc.s, tc.n, c, err, tc.wanted, tc.limit, tc.take, tc.capped)
		}
	}
	var inputErr *InputError
	if _, err := (Selection{Count: 1, MaxFraction: 0.2}).choose(names(3), "pods"); !errors.As(err, &inputErr) || inputErr.Field != "maxFraction" || !strings.Contains(inputErr.Fix, "0.334") {
		t.Errorf("0.2 of 3: err = %v, want a refusal suggesting 0.334", err)
	}
	for _, tc := range []struct {
		s     Selection
		field string
	}{
		{Selection{MaxFraction: 1}, "count"},
		{Selection{Count: 1, Percent: 10, MaxFraction: 1}, "count"},
		{Selection{Count: -1, MaxFraction: 1}, "count"},
		{Selection{Percent: 120, MaxFraction: 1}, "percent"},
		{Selection{Count: 1}, "maxFraction"},
		{Selection{Count: 1, MaxFraction: 1.5}, "maxFraction"},
	} {
		if err := tc.s.validate(); !errors.As(err, &inputErr) || inputErr.Field != tc.field || inputErr.Fix == "" {
			t.Errorf("%+v: err = %v, want an InputError naming %s with a fix", tc.s, err, tc.field)
		}
	}
}

// Inputs travel through Temporal as JSON: every field must survive the trip,
// and the embedded Selection's fields sit beside the others.
func TestFaultInputsRoundTripThroughJSON(t *testing.T) {
	in := PodDelete{Name: "gameday-r-0", Namespace: "game", Selector: "app=web", Selection: Selection{Percent: 50, MaxFraction: 0.5, Seed: 9}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"percent":50,"maxFraction":0.5,"seed":9`) {
		t.Errorf("JSON %s: want the selection's fields inline", data)
	}
	var out PodDelete
	if err := json.Unmarshal(data, &out); err != nil || out.Selection != in.Selection || out.Selector != in.Selector {
		t.Errorf("round trip: %+v %v", out, err)
	}
	fault := NetworkFault{Name: "n", Proxy: "web", Type: Latency, Latency: 300 * time.Millisecond, Jitter: 10 * time.Millisecond}
	data, _ = json.Marshal(fault)
	var back NetworkFault
	if err := json.Unmarshal(data, &back); err != nil || back != fault {
		t.Errorf("network fault round trip: %+v %v", back, err)
	}
}

func TestMeasurementOfANonFiniteValueStillEncodes(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1)} {
		m := measure(v, "", Less, 1)
		if _, err := json.Marshal(m); err != nil {
			t.Errorf("measure(%v) does not encode: %v", v, err)
		}
		if m.WithinTolerance || m.NonFinite == "" || m.Value != 0 {
			t.Errorf("measure(%v, < 1) = %+v, want out of tolerance, marked non-finite", v, m)
		}
	}
	if m := measure(math.Inf(1), "", Greater, 1); !m.WithinTolerance || m.NonFinite != "+Inf" {
		t.Errorf("+Inf > 1: %+v, want within tolerance", m)
	}
}

func TestHTTPProbeCountsWrongStatusesAndChecksItsInput(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 0 {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx := context.Background()
	m, err := ProbeHTTP(ctx, HTTPProbe{URL: srv.URL, Requests: 4, MaxLatency: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests != 4 || m.Failed != 2 || m.Statuses[200] != 2 || m.Statuses[302] != 2 || m.WithinTolerance || !strings.Contains(m.Detail, "2 of 4") {
		t.Errorf("half redirects: %+v, want 2 failed (redirects are judged, not followed)", m)
	}
	if m.Tolerance != "p95 <= 1 and status 200" || m.Unit != "s" || m.P50 > m.P95 || m.P95 > m.P99 {
		t.Errorf("tolerance %q unit %q percentiles %v %v %v", m.Tolerance, m.Unit, m.P50, m.P95, m.P99)
	}
	redirects, err := ProbeHTTP(ctx, HTTPProbe{URL: srv.URL, Requests: 2, ExpectStatus: 302, MaxLatency: time.Second})
	if err != nil || redirects.Failed != 1 || redirects.Statuses[302] != 1 {
		t.Errorf("expecting 302: %+v %v, want one of two matching", redirects, err)
	}
	var inputErr *InputError
	for _, tc := range []struct {
		p     HTTPProbe
		field string
	}{
		{HTTPProbe{URL: "127.0.0.1:80", MaxLatency: time.Second}, "url"},
		{HTTPProbe{URL: srv.URL, MaxLatency: -time.Second}, "maxLatency"},
		{HTTPProbe{URL: srv.URL, MaxLatency: time.Second, Percentile: "95"}, "percentile"},
		{HTTPProbe{URL: srv.URL, MaxLatency: time.Second, Percentile: "p0"}, "percentile"},
		{HTTPProbe{URL: srv.URL, MaxLatency: time.Second, Requests: -1}, "requests"},
		{HTTPProbe{URL: srv.URL, MaxLatency: time.Second, ExpectStatus: 42}, "expectStatus"},
	} {
		if _, err := ProbeHTTP(ctx, tc.p); !errors.As(err, &inputErr) || inputErr.Field != tc.field {
			t.Errorf("%+v: err = %v, want an InputError naming %s", tc.p, err, tc.field)
		}
	}
}

// Without MaxLatency the statuses alone decide; the latency is still
// measured and reported.
func TestHTTPProbeWithoutMaxLatencyJudgesTheStatusAlone(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(5 * time.Millisecond)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	probe := HTTPProbe{URL: srv.URL, Requests: 3}
	ok, err := ProbeHTTP(ctx, probe)
	if err != nil || !ok.WithinTolerance || ok.Tolerance != "status 200" || ok.Value < 0.005 || ok.Statuses[200] != 3 {
		t.Errorf("healthy service: %+v %v, want within tolerance on status 200 alone, with its p95 latency (at least 5ms)", ok, err)
	}
	failing.Store(true)
	down, err := ProbeHTTP(ctx, probe)
	if err != nil || down.WithinTolerance || down.Failed != 3 || !strings.Contains(down.Detail, "3 of 3 requests failed") {
		t.Errorf("service answering 503: %+v %v, want out of tolerance with every request failed", down, err)
	}
	srv.Close()
	gone, err := ProbeHTTP(ctx, probe)
	if err != nil || gone.WithinTolerance || gone.Failed != 3 || len(gone.Errors) == 0 {
		t.Errorf("service gone: %+v %v, want out of tolerance with the connection errors", gone, err)
	}
}

func TestNearestRankPicksMeasuredValues(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]float64{50: 5, 95: 10, 99: 10, 10: 1, 11: 2} {
		if got := nearestRank(sorted, p); got != want {
			t.Errorf("p%v of 1..10 = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(nearestRank(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}
