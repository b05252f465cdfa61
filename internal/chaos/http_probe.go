package chaos

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPProbe sends Requests requests to URL, one after another, each on a new
// connection (as a new client's would be, so faults on connection set-up
// show). It is within tolerance when every answer has ExpectStatus and, when
// MaxLatency is set, the Percentile of the latencies is at most MaxLatency.
type HTTPProbe struct {
	URL string `json:"url"`
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// Requests defaults to 10.
	Requests int `json:"requests,omitempty"`
	// ExpectStatus defaults to 200.
	ExpectStatus int `json:"expectStatus,omitempty"`
	// Percentile is p50, p95 (the default) or p99; any pNN works.
	Percentile string `json:"percentile,omitempty"`
	// MaxLatency bounds the Percentile of the latencies. Zero leaves the
	// latency unjudged (it is still measured): the statuses alone decide, as
	// a game day's HTTP probe without maxLatency asks.
	MaxLatency time.Duration `json:"maxLatency,omitempty"`
	// Timeout bounds each request; it defaults to 10s. A request that times
	// out counts as failed, its latency as the timeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Interval is the pause between requests.
	Interval time.Duration `json:"interval,omitempty"`
}

// HTTPMeasurement is an HTTP probe's answer. Value is the asked percentile of
// the latencies, in seconds, over every request (a failed one counts with
// the time it took to fail).
type HTTPMeasurement struct {
	Measurement
	Requests int `json:"requests"`
	Failed   int `json:"failed"`
	// Statuses counts the answers by status code; requests that got none are
	// in Errors.
	Statuses map[int]int `json:"statuses,omitempty"`
	// Errors are the distinct failures, at most five.
	Errors []string `json:"errors,omitempty"`
	P50    float64  `json:"p50"`
	P95    float64  `json:"p95"`
	P99    float64  `json:"p99"`
}

func (p HTTPProbe) withDefaults() (HTTPProbe, float64, error) {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return p, 0, &InputError{Field: "url", Problem: fmt.Sprintf("%q is not an http(s) URL", p.URL), Fix: "give the URL to request, e.g. http://127.0.0.1:8080/healthz"}
	}
	if p.Method == "" {
		p.Method = http.MethodGet
	}
	if p.Requests == 0 {
		p.Requests = 10
	}
	if p.ExpectStatus == 0 {
		p.ExpectStatus = http.StatusOK
	}
	if p.Percentile == "" {
		p.Percentile = "p95"
	}
	if p.Timeout == 0 {
		p.Timeout = 10 * time.Second
	}
	switch {
	case p.Requests < 0 || p.Requests > 10000:
		return p, 0, &InputError{Field: "requests", Problem: fmt.Sprintf("is %d", p.Requests), Fix: "give from 1 to 10000 requests"}
	case p.ExpectStatus < 100 || p.ExpectStatus > 599:
		return p, 0, &InputError{Field: "expectStatus", Problem: fmt.Sprintf("is %d", p.ExpectStatus), Fix: "give an HTTP status code such as 200"}
	case p.MaxLatency < 0:
		return p, 0, &InputError{Field: "maxLatency", Problem: fmt.Sprintf("is negative (%s)", p.MaxLatency), Fix: "give the latency the percentile must stay under, e.g. 500ms, or leave it out to judge the status alone"}
	case p.Timeout < 0 || p.Interval < 0:
		return p, 0, &InputError{Field: "timeout", Problem: "or interval is negative", Fix: "give positive durations"}
	}
	percentile, err := strconv.ParseFloat(strings.TrimPrefix(p.Percentile, "p"), 64)
	if !strings.HasPrefix(p.Percentile, "p") || err != nil || percentile <= 0 || percentile > 100 {
		return p, 0, &InputError{Field: "percentile", Problem: fmt.Sprintf("%q is not a percentile", p.Percentile), Fix: "use p50, p95 or p99"}
	}
	return p, percentile, nil
}

// ProbeHTTP runs the probe. Only bad input is an error: a service that does
// not answer is a measurement out of tolerance.
func ProbeHTTP(ctx context.Context, p HTTPProbe) (HTTPMeasurement, error) {
	p, percentile, err := p.withDefaults()
	if err != nil {
		return HTTPMeasurement{}, err
	}
	// No HTTP_PROXY from the environment: the probe measures the path to the service itself.
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: p.Timeout,
		// A redirect is an answer to judge, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	m := HTTPMeasurement{Statuses: map[int]int{}}
	latencies := make([]float64, 0, p.Requests)
	for i := range p.Requests {
		if i > 0 && p.Interval > 0 {
			select {
			case <-ctx.Done():
				return m, ctx.Err()
			case <-time.After(p.Interval):
			}
		}
		if err := ctx.Err(); err != nil {
			return m, err
		}
		status, took, err := timedRequest(ctx, hc, p.Method, p.URL)
		m.Requests++
		latencies = append(latencies, took.Seconds())
		switch {
		case err != nil:
			m.Failed++
			m.addError(err.Error())
		case status != p.ExpectStatus:
			m.Failed++
			m.Statuses[status]++
		default:
			m.Statuses[status]++
		}
	}
	slices.Sort(latencies)
	m.P50, m.P95, m.P99 = nearestRank(latencies, 50), nearestRank(latencies, 95), nearestRank(latencies, 99)
	if p.MaxLatency > 0 {
		m.Measurement = measure(nearestRank(latencies, percentile), "s", LessEqual, p.MaxLatency.Seconds())
		m.Tolerance = fmt.Sprintf("%s %s and status %d", p.Percentile, m.Tolerance, p.ExpectStatus)
	} else {
		m.Measurement = measure(nearestRank(latencies, percentile), "s", LessEqual, math.Inf(1))
		m.Tolerance = fmt.Sprintf("status %d", p.ExpectStatus)
	}
	if m.Failed > 0 {
		m.WithinTolerance = false
		m.Detail = fmt.Sprintf("%d of %d requests failed (want status %d)", m.Failed, m.Requests, p.ExpectStatus)
	} else if !m.WithinTolerance {
		m.Detail = fmt.Sprintf("%s latency %.3fs is over %s", p.Percentile, m.Value, p.MaxLatency)
	}
	return m, nil
}

// timedRequest measures until the whole body is read: a fault that slows the
// body (bandwidth, latency on later chunks) must show.
func timedRequest(ctx context.Context, hc *http.Client, method, target string) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, took, fmt.Errorf("reading the body of the %s answer: %w", resp.Status, err)
	}
	return resp.StatusCode, took, nil
}

func (m *HTTPMeasurement) addError(msg string) {
	if len(m.Errors) < 5 && !slices.Contains(m.Errors, msg) {
		m.Errors = append(m.Errors, msg)
	}
}

// nearestRank is the p-th percentile of sorted values by the nearest-rank
// method: always one of the measured values, never an interpolation.
func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
