package localenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrMotoMissing says moto's server is not installed. It comes with the
// machine image's Python (moto 5.2.1); no Python package can be installed here.
var ErrMotoMissing = errors.New("moto_server is not installed (it comes with the machine image's Python, moto 5.2.1)")

// FindMoto locates moto_server, preferring a Python installation's own copy
// over a pyenv shim (which starts a shell and pyenv first).
func FindMoto() (string, error) {
	if home, err := os.UserHomeDir(); err == nil {
		if found, _ := filepath.Glob(filepath.Join(home, ".pyenv", "versions", "*", "bin", "moto_server")); len(found) > 0 {
			return found[len(found)-1], nil
		}
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	return "", ErrMotoMissing
}

// Moto is a running moto server: AWS APIs (Auto Scaling, EC2, ...) in memory.
type Moto struct {
	URL  string
	proc *managedProcess
}

// StartMoto starts moto's server on addr (empty: a free port on 127.0.0.1),
// logging under dataDir, and waits until it accepts connections.
func StartMoto(ctx context.Context, dataDir, addr string) (*Moto, error) {
	bin, err := FindMoto()
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = freeAddrOn("127.0.0.1")
	} else if err := portFree(addr); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("moto address %q: %w", addr, err)
	}
	proc, err := startManaged(filepath.Join(dataDir, "logs"), bin, "-H", host, "-p", port)
	if err != nil {
		return nil, err
	}
	m := &Moto{URL: "http://" + addr, proc: proc}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return m, nil
		}
		if exited := proc.exited(); exited != nil {
			return nil, fmt.Errorf("moto_server exited while starting: %v (log: %s)", exited, proc.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Stop()
			return nil, fmt.Errorf("moto_server not listening after 30s (log: %s)", proc.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server; its state was in memory only.
func (m *Moto) Stop() { m.proc.stop() }
