package localenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PrometheusOptions say where a local Prometheus keeps its data, where it
// listens and what it scrapes.
type PrometheusOptions struct {
	// DataDir holds the config, the TSDB and the log.
	DataDir string
	// Address is host:port to listen on; empty picks a free port on 127.0.0.1.
	Address string
	// Targets are host:port addresses serving /metrics.
	Targets []string
	// ScrapeInterval defaults to 1s: a trace replayed in accelerated time moves fast.
	ScrapeInterval time.Duration
	// Binary defaults to prometheus on PATH, then /usr/bin/prometheus (Debian's).
	Binary string
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	URL  string
	proc *managedProcess
}

// ErrPrometheusMissing says the prometheus binary is not installed.
var ErrPrometheusMissing = errors.New("prometheus is not installed (apt-get install prometheus, or `make tools`)")

// FindPrometheus locates the prometheus binary.
func FindPrometheus() (string, error) {
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus", nil
	}
	return "", ErrPrometheusMissing
}

// StartPrometheus starts Prometheus with its own config and storage (never the
// Debian service's), and waits until it is ready.
func StartPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = FindPrometheus(); err != nil {
			return nil, err
		}
	}
	if opts.Address == "" {
		opts.Address = freeAddrOn("127.0.0.1")
	} else if err := portFree(opts.Address); err != nil {
		return nil, err
	}
	interval := opts.ScrapeInterval
	if interval <= 0 {
		interval = time.Second
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	quoted := make([]string, len(opts.Targets))
	for i, t := range opts.Targets {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: infraflow
    static_configs:
      - targets: [%s]
`, interval, interval, interval, strings.Join(quoted, ", "))
	configPath := filepath.Join(opts.DataDir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	proc, err := startManaged(filepath.Join(opts.DataDir, "logs"), bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(opts.DataDir, "tsdb"),
		"--web.listen-address="+opts.Address,
		"--storage.tsdb.retention.time=2d",
		"--log.level=warn")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: "http://" + opts.Address, proc: proc}
	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if exited := proc.exited(); exited != nil {
			return nil, fmt.Errorf("prometheus exited while starting: %v (log: %s)", exited, proc.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("prometheus not ready after 30s (log: %s)", proc.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops Prometheus.
func (p *Prometheus) Stop() {
	if p != nil && p.proc != nil {
		p.proc.stop()
		p.proc = nil
	}
}
