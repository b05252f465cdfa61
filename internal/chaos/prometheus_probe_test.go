package chaos

import (
	"context"
	"errors"
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

func TestPrometheusProbeHoldsAScrapedValueToItsThreshold(t *testing.T) {
	testtier.RealTools(t, "Prometheus")
	reg := prometheus.NewRegistry()
	errorRatio := prometheus.NewGauge(prometheus.GaugeOpts{Name: "chaos_test_error_ratio"})
	reg.MustRegister(errorRatio)
	errorRatio.Set(0.01)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prom, err := localenv.StartPrometheus(ctx, localenv.PrometheusOptions{DataDir: t.TempDir(), Targets: []string{l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	probe := PrometheusProbe{URL: prom.URL, Query: "max(chaos_test_error_ratio)", Op: Less, Threshold: 0.05}
	// waitFor probes until the scraped value is want (Prometheus scrapes every second).
	waitFor := func(want float64) PrometheusMeasurement {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			m, err := ProbePrometheus(ctx, probe)
			if err != nil {
				t.Fatal(err)
			}
			if m.NonFinite == "" && m.Value == want {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("probe still %+v after 30s, want the value %v", m, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	healthy := waitFor(0.01)
	if !healthy.WithinTolerance || healthy.Tolerance != "< 0.05" || healthy.Detail != "" || healthy.Series != "{}" {
		t.Errorf("error ratio 0.01 < 0.05: %+v, want within tolerance", healthy)
	}
	errorRatio.Set(0.2)
	breached := waitFor(0.2)
	if breached.WithinTolerance || !strings.Contains(breached.Detail, "= 0.2, want < 0.05") {
		t.Errorf("error ratio 0.2: %+v, want out of tolerance, saying why", breached)
	}
	for op, within := range map[string]bool{LessEqual: false, Greater: true, GreaterEqual: true, Equal: false} {
		p := probe
		p.Op = op
		if m, err := ProbePrometheus(ctx, p); err != nil || m.WithinTolerance != within {
			t.Errorf("0.2 %s 0.05: %+v %v, want within=%v", op, m, err, within)
		}
	}

	// The metric the hypothesis rests on is gone: out of tolerance, not an error.
	missing, err := ProbePrometheus(ctx, PrometheusProbe{URL: prom.URL, Query: "chaos_test_absent", Op: Less, Threshold: 1})
	if err != nil || missing.WithinTolerance || missing.NonFinite != "NaN" || !strings.Contains(missing.Detail, "no series") {
		t.Errorf("absent metric: %+v %v, want out of tolerance with no value", missing, err)
	}
	var inputErr *InputError
	if _, err := ProbePrometheus(ctx, PrometheusProbe{URL: prom.URL, Query: "up", Op: "=<", Threshold: 1}); !errors.As(err, &inputErr) || inputErr.Field != "op" {
		t.Errorf("op =<: err = %v, want an InputError naming op", err)
	}
	if _, err := ProbePrometheus(ctx, PrometheusProbe{URL: "127.0.0.1:9090", Query: "up", Op: Less}); !errors.As(err, &inputErr) || inputErr.Field != "url" {
		t.Errorf("URL without scheme: err = %v, want an InputError naming url", err)
	}
	prom.Stop()
	if _, err := ProbePrometheus(ctx, probe); err == nil || !strings.Contains(err.Error(), "querying Prometheus") {
		t.Errorf("Prometheus down: err = %v, want an error (nothing measured)", err)
	}
}
