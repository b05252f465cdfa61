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

// PinnedTools is RealTools for a test that runs the tools `make tools` links
// into the repository's .infraflow/bin: it puts that directory first on PATH
// (as an absolute path: exec refuses programs found through a relative PATH
// entry) and returns it. The repository is the nearest directory up from the
// test's with a go.mod.
func PinnedTools(t testing.TB, what string) string {
	t.Helper()
	RealTools(t, what)
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory: run the tests inside the repository")
		}
		dir = parent
	}
	bin := filepath.Join(dir, ".infraflow", "bin")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return bin
}
