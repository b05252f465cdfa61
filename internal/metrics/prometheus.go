// Package metrics exposes the worker's Temporal SDK metrics, plus Go runtime
// and process metrics, in Prometheus format.
package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Server serves /metrics and hands the SDK its metrics handler.
type Server struct {
	Handler client.MetricsHandler
	URL     string
	http    *http.Server
	closer  interface{ Close() error }
}

// Serve starts serving on addr (host:port).
func Serve(addr string) (*Server, error) {
	registry := prom.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: registry, Gatherer: registry})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		_ = closer.Close()
		return nil, fmt.Errorf("metrics address %s: %w (choose another with --metrics-address, or \"\" to disable)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	s := &Server{
		Handler: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)),
		URL:     "http://" + listener.Addr().String() + "/metrics",
		http:    &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		closer:  closer,
	}
	go func() {
		if err := s.http.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Printf("metrics server stopped: %v\n", err)
		}
	}()
	return s, nil
}

// Close stops serving and flushes the scope.
func (s *Server) Close() {
	_ = s.http.Close()
	_ = s.closer.Close()
}
