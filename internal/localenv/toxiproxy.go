package localenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrToxiproxyMissing says toxiproxy's server is not on PATH.
var ErrToxiproxyMissing = errors.New("toxiproxy-server is not installed (run `make tools`, then put .infraflow/bin on PATH)")

// FindToxiproxy locates toxiproxy-server; `make tools` links it into
// .infraflow/bin, which the worker puts first on PATH.
func FindToxiproxy() (string, error) {
	if p, err := exec.LookPath("toxiproxy-server"); err == nil {
		return p, nil
	}
	return "", ErrToxiproxyMissing
}

// Toxiproxy is a running toxiproxy server. URL is its HTTP API, where proxies
// and their toxics are created; the proxies listen on addresses of their own.
type Toxiproxy struct {
	URL  string
	proc *managedProcess
}

// StartToxiproxy starts toxiproxy's server with its API on addr (empty: a free
// port on 127.0.0.1), logging under dataDir, and waits until the API answers.
// It starts with no proxies: they live in the server's memory only.
func StartToxiproxy(ctx context.Context, dataDir, addr string) (*Toxiproxy, error) {
	bin, err := FindToxiproxy()
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = freeAddrOn("127.0.0.1")
	} else if err := portFree(addr); err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(addr, "toxiproxy API address")
	if err != nil {
		return nil, err
	}
	proc, err := startManaged(filepath.Join(dataDir, "logs"), bin, "-host", host, "-port", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	tp := &Toxiproxy{URL: "http://" + addr, proc: proc}
	deadline := time.Now().Add(30 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tp.URL+"/version", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return tp, nil
			}
		}
		if exited := proc.exited(); exited != nil {
			return nil, fmt.Errorf("toxiproxy-server exited while starting: %v (log: %s)", exited, proc.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			tp.Stop()
			return nil, fmt.Errorf("toxiproxy-server's API not answering on %s after 30s (log: %s)", addr, proc.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server, closing every proxy it held.
func (tp *Toxiproxy) Stop() {
	if tp != nil && tp.proc != nil {
		tp.proc.stop()
		tp.proc = nil
	}
}
