package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/infraflow/infraflow/internal/promrange"
)

// PrometheusProbe evaluates Query now and holds its value to Op Threshold,
// e.g. an error ratio < 0.01. The query must answer one series or a scalar.
type PrometheusProbe struct {
	// URL is the Prometheus server, e.g. http://127.0.0.1:9095.
	URL       string  `json:"url"`
	Query     string  `json:"query"`
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	// Timeout bounds the query; it defaults to 10s.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// PrometheusMeasurement is the query's value and the series it came from.
type PrometheusMeasurement struct {
	Measurement
	Series string    `json:"series"`
	At     time.Time `json:"at"`
}

// ProbePrometheus runs the probe. A query that matches nothing is a
// measurement out of tolerance (the metric the hypothesis rests on is gone);
// Prometheus unreachable or refusing the query is an error.
func ProbePrometheus(ctx context.Context, p PrometheusProbe) (PrometheusMeasurement, error) {
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return PrometheusMeasurement{}, &InputError{Field: "url", Problem: fmt.Sprintf("%q is not an http(s) URL", p.URL), Fix: "give the Prometheus server, e.g. http://127.0.0.1:9095"}
	}
	if strings.TrimSpace(p.Query) == "" {
		return PrometheusMeasurement{}, &InputError{Field: "query", Problem: "is empty", Fix: "give a PromQL query answering one series, e.g. sum(rate(http_requests_total{code=~\"5..\"}[1m]))"}
	}
	if err := checkOperator("op", p.Op); err != nil {
		return PrometheusMeasurement{}, err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sample, err := promrange.Instant(ctx, &http.Client{Timeout: timeout}, p.URL, p.Query, time.Time{})
	if errors.Is(err, promrange.ErrNoSample) {
		m := PrometheusMeasurement{Measurement: measure(math.NaN(), "", p.Op, p.Threshold)}
		m.Detail = fmt.Sprintf("%s returned no series: nothing to hold to the threshold", p.Query)
		return m, nil
	}
	if err != nil {
		return PrometheusMeasurement{}, fmt.Errorf("probing %s: %w", p.Query, err)
	}
	m := PrometheusMeasurement{Measurement: measure(sample.Value, "", p.Op, p.Threshold), Series: sample.Series, At: sample.At}
	if !m.WithinTolerance {
		m.Detail = fmt.Sprintf("%s = %g, want %s", p.Query, sample.Value, m.Tolerance)
	}
	return m, nil
}
