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
	lo, _ := pool()
	mu.Lock()
	if cursor < 0 {
		cursor = 0
	}
	next := lo + cursor
	mu.Unlock()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(next)))
	if err != nil {
		t.Skipf("port %d already taken by someone else: %v", next, err)
	}
	defer l.Close()
	port, err := Port("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if port == next {
		t.Fatalf("Port returned %d, which a listener holds", port)
	}
}
