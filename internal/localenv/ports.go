package localenv

import (
	"fmt"
	"net"
	"strconv"

	"github.com/infraflow/infraflow/internal/freeport"
)

func splitHostPort(addr, what string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want host:port, e.g. 127.0.0.1:7233: %w", what, addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: port must be a number from 1 to 65535", what, addr)
	}
	return host, port, nil
}

// portFree says who to blame when an address is taken: usually an earlier
// `make dev` still running, or a `temporal server start-dev`.
func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is already in use (is another `make dev` or `temporal server start-dev` running?); stop it or choose other ports with --frontend-address/--ui-address: %w", addr, err)
	}
	return l.Close()
}

// freePort picks a port for the server's internal services, which nobody
// outside the process needs to know.
func freePort(host string) (int, error) {
	port, err := freeport.Port(host)
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	return port, nil
}
