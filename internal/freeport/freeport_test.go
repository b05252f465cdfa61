package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreBelowTheEphemeralRangeAndNeverRepeat(t *testing.T) {
	lo, hi := pool()
	seen := map[int]bool{}
	for range 200 {
		port, err := Port("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if port < lo || port >= hi {
			t.Fatalf("port %d outside [%d, %d)", port, lo, hi)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
}

func TestATakenPortIsSkipped(t *testing.T) {
	lo, hi := pool()
	// Hold the first port of the pool that can be held, and point the
	// cursor at it: Port must pass it by.
	var held net.Listener
	var port int
	for p := lo; p < hi && held == nil; p++ {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			held, port = l, p
		}
	}
	if held == nil {
		t.Fatalf("no port in [%d, %d) could be held", lo, hi)
	}
	defer held.Close()
	mu.Lock()
	cursor = port - lo
	delete(given, port)
	mu.Unlock()
	got, err := Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if got == port {
		t.Fatalf("Port returned %d, which a listener holds", got)
	}
}
