// Package tracereplay plays a recorded workload trace (a CSV of
// timestamp,value) in accelerated time as a Prometheus gauge, so that a real
// Prometheus scrapes it and the forecast-and-scale loop reads real Prometheus
// as it would in production.
package tracereplay

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/infraflow/infraflow/internal/forecast"
)

// MetricName is the gauge the player exports, labelled trace="<name>".
const MetricName = "infraflow_trace_demand"

// Load reads a trace CSV (header timestamp,value; timestamps "2006-01-02
// 15:04:05") onto a regular grid; gaps are filled by linear interpolation and
// counted in Series.Filled.
func Load(path string) (forecast.Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return forecast.Series{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return forecast.Series{}, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	if len(header) != 2 || strings.TrimSpace(header[0]) != "timestamp" || strings.TrimSpace(header[1]) != "value" {
		return forecast.Series{}, fmt.Errorf("%s: header %v, want timestamp,value", path, header)
	}
	var times []time.Time
	var values []float64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return forecast.Series{}, fmt.Errorf("%s: %w", path, err)
		}
		t, err := time.Parse(time.DateTime, strings.TrimSpace(rec[0]))
		if err != nil {
			return forecast.Series{}, fmt.Errorf("%s line %d: timestamp: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return forecast.Series{}, fmt.Errorf("%s line %d: value: %w", path, line, err)
		}
		times, values = append(times, t), append(values, v)
	}
	s, err := forecast.Regularize(times, values)
	if err != nil {
		return forecast.Series{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Player maps wall-clock time onto a trace: every Tick of real time advances
// the trace one step, starting at step Offset when the player starts, and
// wrapping around at the end.
type Player struct {
	Name   string
	Series forecast.Series
	Tick   time.Duration
	Offset int
	start  time.Time
	now    func() time.Time
}

// New starts playing s now.
func New(name string, s forecast.Series, tick time.Duration, offset int) (*Player, error) {
	if len(s.Values) == 0 {
		return nil, errors.New("tracereplay: empty trace")
	}
	if tick <= 0 {
		return nil, fmt.Errorf("tracereplay: tick %s must be positive", tick)
	}
	return &Player{Name: name, Series: s, Tick: tick, Offset: ((offset % len(s.Values)) + len(s.Values)) % len(s.Values),
		start: time.Now(), now: time.Now}, nil
}

// NewFromFile loads the trace at path and names it after the file.
func NewFromFile(path string, tick time.Duration, offset int) (*Player, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	return New(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), s, tick, offset)
}

// Step is the trace step playing at t.
func (p *Player) Step(t time.Time) int {
	elapsed := max(0, t.Sub(p.start))
	return (p.Offset + int(elapsed/p.Tick)) % len(p.Series.Values)
}

// Value is the demand playing at t.
func (p *Player) Value(t time.Time) float64 { return p.Series.Values[p.Step(t)] }

// Registry holds the player's gauges: the demand and the step being played.
func (p *Player) Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"trace": p.Name}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricName, Help: "Demand of a recorded trace replayed in accelerated time.", ConstLabels: labels,
	}, func() float64 { return p.Value(p.now()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "infraflow_trace_step", Help: "Index of the trace step being played.", ConstLabels: labels,
	}, func() float64 { return float64(p.Step(p.now())) }))
	return reg
}

// Handler serves the gauges in the Prometheus exposition format.
func (p *Player) Handler() http.Handler {
	return promhttp.HandlerFor(p.Registry(), promhttp.HandlerOpts{})
}

// Server is a running exporter.
type Server struct {
	// Addr is host:port, to put in a Prometheus scrape config.
	Addr string
	srv  *http.Server
}

// Serve exports p's gauges at http://addr/metrics; addr "127.0.0.1:0" picks a
// free port (read it back from Server.Addr).
func Serve(addr string, p *Player) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("trace exporter: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", p.Handler())
	s := &Server{Addr: l.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the exporter.
func (s *Server) Close() error { return s.srv.Close() }
