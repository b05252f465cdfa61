// Package testtier separates the two tiers of tests. The unit tier (`make
// test-unit`, which is `go test -short`) is hermetic: no binaries, no
// platform. Tests that run real tools (ansible-playbook, etcd, Prometheus,
// moto, the local platform) call RealTools first: the unit tier leaves them
// out, and `make test` runs them, failing when a tool is missing.
package testtier

import (
	"os"
	"path/filepath"
	"testing"
)

// RealTools leaves the calling test out of the unit tier.
func RealTools(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("runs %s: make test runs it, make test-unit (go test -short) does not", what)
	}
}

// TraceFile is the path of a workload trace: under $INFRAFLOW_TRACES (`make
// test` sets it from TRACES), else ../shared/data/traces beside the
// repository, as the workplace lays it out. A missing trace fails the test.
func TraceFile(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("INFRAFLOW_TRACES")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "data", "traces")
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		t.Fatalf("trace %s: %v (set INFRAFLOW_TRACES to the directory of the workload traces)", name, err)
	}
	return path
}
