// Package freeport picks loopback ports for servers that are started a moment
// later by another process (sshd, etcd, the Temporal server's services).
//
// Asking the kernel for port 0 and closing the listener is not enough when
// many things start at once: that port comes from the ephemeral range, the
// same range the kernel draws from for every outgoing connection, so a client
// connecting anywhere on the machine can take it before the server binds it.
// Ports below the ephemeral range are never handed out implicitly, so picking
// there leaves only explicit binds to race with, and this process never hands
// out the same port twice.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// poolSize is how many ports below the ephemeral range are used.
const poolSize = 12000

var (
	mu     sync.Mutex
	given  = map[int]bool{}
	cursor = -1
)

// Port returns a port on host that was free a moment ago and that this
// process has not handed out before.
func Port(host string) (int, error) {
	lo, hi := pool()
	mu.Lock()
	defer mu.Unlock()
	size := hi - lo
	if cursor < 0 {
		// Processes started together begin at different places, so they
		// rarely try the same port.
		cursor = rand.IntN(size)
	}
	var lastErr error
	for range size {
		port := lo + cursor
		cursor = (cursor + 1) % size
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		_ = l.Close()
		given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port on %s between %d and %d: %v", host, lo, hi-1, lastErr)
}

// Addr returns host:port for a port from Port.
func Addr(host string) (string, error) {
	port, err := Port(host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// pool is the range [lo, hi) just below the kernel's ephemeral ports.
func pool() (lo, hi int) {
	hi = 32768 // Linux's default start of the ephemeral range
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if n, err := strconv.Atoi(fields[0]); err == nil && n > 1024+1000 {
				hi = n
			}
		}
	}
	return max(1024, hi-poolSize), hi
}
