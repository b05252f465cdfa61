// Package promrange reads a range of one time series from the Prometheus HTTP
// API (/api/v1/query_range) onto a regular grid, marking missing samples, so a
// forecaster can tell a gap from a zero; and one instant value
// (/api/v1/query), which game-day probes hold to a threshold.
package promrange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Query is one range query: Expr evaluated every Step from Start to End.
type Query struct {
	Expr  string
	Start time.Time
	End   time.Time
	Step  time.Duration
}

// MaxPoints is Prometheus's own limit on points per series in one query.
const MaxPoints = 11000

// Grid is the answer on the query's grid: Values[i] belongs to Start + i*Step;
// NaN marks a step Prometheus returned no sample (or a NaN sample) for.
type Grid struct {
	Start   time.Time
	Step    time.Duration
	Values  []float64
	Missing int
	// Series is the label set of the series read, in Prometheus's notation.
	Series string
}

// ErrNoData says the query matched nothing in the range: a wrong query, or a
// target Prometheus has not scraped yet.
var ErrNoData = errors.New("the query returned no series in the range")

// Fetch runs q against the Prometheus at baseURL (e.g. http://127.0.0.1:9090).
// A query that returns more than one series is an error: demand is one number
// per step, so aggregate in the query (sum(...)).
func Fetch(ctx context.Context, hc *http.Client, baseURL string, q Query) (Grid, error) {
	if q.Step <= 0 || !q.End.After(q.Start) {
		return Grid{}, fmt.Errorf("range query: need step > 0 and end after start (step %s, %s..%s)", q.Step, q.Start, q.End)
	}
	n := int(q.End.Sub(q.Start)/q.Step) + 1
	if n > MaxPoints {
		return Grid{}, fmt.Errorf("range query: %d points per series, Prometheus allows %d; use a longer step or a shorter window", n, MaxPoints)
	}
	form := url.Values{}
	form.Set("query", q.Expr)
	form.Set("start", formatTime(q.Start))
	form.Set("end", formatTime(q.End))
	form.Set("step", strconv.FormatFloat(q.Step.Seconds(), 'f', -1, 64))
	var answer struct {
		Data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := call(ctx, hc, baseURL, "/api/v1/query_range", form, &answer); err != nil {
		return Grid{}, err
	}
	if answer.Data.ResultType != "matrix" {
		return Grid{}, fmt.Errorf("the answer is a %s, want a matrix", answer.Data.ResultType)
	}
	switch len(answer.Data.Result) {
	case 0:
		return Grid{}, ErrNoData
	case 1:
	default:
		return Grid{}, fmt.Errorf("the query returned %d series, want 1: aggregate it, e.g. sum(%s)", len(answer.Data.Result), q.Expr)
	}
	series := answer.Data.Result[0]
	g := Grid{Start: q.Start, Step: q.Step, Values: make([]float64, n), Series: labels(series.Metric)}
	for i := range g.Values {
		g.Values[i] = math.NaN()
	}
	for _, pair := range series.Values {
		ts, ok := pair[0].(float64)
		text, ok2 := pair[1].(string)
		if !ok || !ok2 {
			return Grid{}, fmt.Errorf("malformed sample %v in Prometheus's answer", pair)
		}
		at := time.Unix(0, int64(math.Round(ts*1e3))*int64(time.Millisecond))
		k := int(math.Round(float64(at.Sub(q.Start)) / float64(q.Step)))
		if k < 0 || k >= n {
			continue
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			continue // stays missing
		}
		g.Values[k] = v
	}
	for _, v := range g.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			g.Missing++
		}
	}
	return g, nil
}

// Sample is the answer to an instant query: one value at one time.
type Sample struct {
	Value float64
	At    time.Time
	// Series is the label set of the series read, in Prometheus's notation;
	// "scalar" for a scalar answer.
	Series string
}

// ErrNoSample says an instant query matched no series: a wrong query, or a
// target Prometheus has not scraped yet (or no longer does).
var ErrNoSample = errors.New("the query returned no series")

// Instant evaluates expr at Prometheus's present time (at zero) or at at. As
// with Fetch, the answer must be one series or a scalar: aggregate in the
// query.
func Instant(ctx context.Context, hc *http.Client, baseURL, expr string, at time.Time) (Sample, error) {
	form := url.Values{}
	form.Set("query", expr)
	if !at.IsZero() {
		form.Set("time", formatTime(at))
	}
	var answer struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := call(ctx, hc, baseURL, "/api/v1/query", form, &answer); err != nil {
		return Sample{}, err
	}
	var pair [2]any
	series := "scalar"
	switch answer.Data.ResultType {
	case "scalar":
		if err := json.Unmarshal(answer.Data.Result, &pair); err != nil {
			return Sample{}, fmt.Errorf("malformed scalar in Prometheus's answer: %w", err)
		}
	case "vector":
		var vector []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(answer.Data.Result, &vector); err != nil {
			return Sample{}, fmt.Errorf("malformed vector in Prometheus's answer: %w", err)
		}
		switch len(vector) {
		case 0:
			return Sample{}, ErrNoSample
		case 1:
		default:
			return Sample{}, fmt.Errorf("the query returned %d series, want 1: aggregate it, e.g. sum(%s)", len(vector), expr)
		}
		pair, series = vector[0].Value, labels(vector[0].Metric)
	default:
		return Sample{}, fmt.Errorf("the answer is a %s, want a vector or a scalar", answer.Data.ResultType)
	}
	ts, ok := pair[0].(float64)
	text, ok2 := pair[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("malformed sample %v in Prometheus's answer", pair)
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("sample value %q in Prometheus's answer: %w", text, err)
	}
	return Sample{Value: v, At: time.Unix(0, int64(math.Round(ts*1e3))*int64(time.Millisecond)), Series: series}, nil
}

// call posts form to one of Prometheus's query endpoints and decodes a
// successful answer into answer (whose data field holds the result).
func call(ctx context.Context, hc *http.Client, baseURL, path string, form url.Values, answer any) error {
	endpoint := strings.TrimRight(baseURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("querying Prometheus at %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading Prometheus's answer: %w", err)
	}
	var status struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		return fmt.Errorf("the answer (%s) is not Prometheus's JSON API: %.200q", resp.Status, body)
	}
	if status.Status != "success" {
		return fmt.Errorf("the query was refused by Prometheus (%s, %s): %s", resp.Status, status.ErrorType, status.Error)
	}
	if err := json.Unmarshal(body, answer); err != nil {
		return fmt.Errorf("the answer (%s) is not Prometheus's JSON API: %w", resp.Status, err)
	}
	return nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}
