// Package testtier separates the two tiers of tests. The unit tier (`make
// test-unit`, which is `go test -short`) is hermetic: no binaries, no
// platform. Tests that run real tools (ansible-playbook, etcd, Prometheus,
// moto, the local platform) call RealTools first: the unit tier leaves them
// out, and `make test` runs them, failing when a tool is missing.
package testtier

import "testing"

// RealTools leaves the calling test out of the unit tier.
func RealTools(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("runs %s: make test runs it, make test-unit (go test -short) does not", what)
	}
}
