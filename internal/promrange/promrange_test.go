package promrange

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/testtier"
)

// Both queries against a real Prometheus scraping a gauge this test sets.
func TestFetchAndInstantReadARealPrometheus(t *testing.T) {
	testtier.RealTools(t, "Prometheus")
	reg := prometheus.NewRegistry()
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "promrange_test_value"}, []string{"shard"})
	reg.MustRegister(gauge)
	gauge.WithLabelValues("a").Set(7)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prom, err := localenv.StartPrometheus(ctx, localenv.PrometheusOptions{DataDir: t.TempDir(), Targets: []string{l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	hc := &http.Client{Timeout: 10 * time.Second}

	var s Sample
	for deadline := time.Now().Add(30 * time.Second); ; {
		if s, err = Instant(ctx, hc, prom.URL, `promrange_test_value{shard="a"}`, time.Time{}); err == nil {
			break
		}
		if !errors.Is(err, ErrNoSample) || time.Now().After(deadline) {
			t.Fatalf("no sample of the gauge after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.Value != 7 || !strings.Contains(s.Series, `"shard":"a"`) || time.Since(s.At) > 5*time.Second {
		t.Errorf("instant sample %+v, want 7 from shard a, now", s)
	}
	if s, err := Instant(ctx, hc, prom.URL, `2 * 21`, time.Time{}); err != nil || s.Value != 42 || s.Series != "scalar" {
		t.Errorf("scalar 2 * 21: %+v %v, want 42", s, err)
	}
	if s, err := Instant(ctx, hc, prom.URL, `sum(promrange_test_value) / 0 * 0`, time.Time{}); err != nil || !math.IsNaN(s.Value) {
		t.Errorf("0/0: %+v %v, want a NaN sample", s, err)
	}
	gauge.WithLabelValues("b").Set(1)
	time.Sleep(2500 * time.Millisecond) // two scrapes: shard b is a series now
	if _, err := Instant(ctx, hc, prom.URL, `promrange_test_value`, time.Time{}); err == nil || !strings.Contains(err.Error(), "2 series") {
		t.Errorf("two series: err = %v, want them counted and aggregation suggested", err)
	}
	if _, err := Instant(ctx, hc, prom.URL, `rate(`, time.Time{}); err == nil || !strings.Contains(err.Error(), "refused by Prometheus") {
		t.Errorf("bad PromQL: err = %v, want Prometheus's refusal", err)
	}

	end := time.Now().Truncate(time.Second)
	g, err := Fetch(ctx, hc, prom.URL, Query{Expr: `sum(promrange_test_value{shard="a"})`, Start: end.Add(-2 * time.Second), End: end, Step: time.Second})
	if err != nil || len(g.Values) != 3 || g.Values[2] != 7 {
		t.Errorf("range of the last 2s: %+v %v, want 3 steps ending at 7", g, err)
	}
	if _, err := Fetch(ctx, hc, prom.URL, Query{Expr: `nothing_here`, Start: end.Add(-2 * time.Second), End: end, Step: time.Second}); !errors.Is(err, ErrNoData) {
		t.Errorf("empty range: err = %v, want ErrNoData", err)
	}
	prom.Stop()
	if _, err := Instant(ctx, hc, prom.URL, `1`, time.Time{}); err == nil || !strings.Contains(err.Error(), "querying Prometheus at") {
		t.Errorf("Prometheus down: err = %v, want the connection failure", err)
	}
}
