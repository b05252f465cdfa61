package localenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

// The server exits the process on a fatal entry, so the entry is written by a
// child process: this test binary again, told by the environment to do it.
func TestServerFatalReachesStderrAndTheLog(t *testing.T) {
	if logPath := os.Getenv("LOCALENV_TEST_FATAL_LOG"); logPath != "" {
		serverLogger(logPath).Fatal("Failed to start gRPC listener", tag.Address("127.0.0.1:40001"),
			tag.Error(errors.New("listen tcp 127.0.0.1:40001: bind: address already in use")))
		return
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerFatalReachesStderrAndTheLog$")
	cmd.Env = append(os.Environ(), "LOCALENV_TEST_FATAL_LOG="+logPath)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("child exited with %v, want exit status 1; stdout:\n%s", err, stdout.String())
	}
	for _, want := range []string{"temporal server failed (full log: " + logPath + ")", "Failed to start gRPC listener", "address already in use"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "\n{") {
		t.Errorf("stderr carries the JSON log too:\n%s", stderr.String())
	}
	logged, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(logged), `"msg":"Failed to start gRPC listener"`) {
		t.Errorf("server.log (%v):\n%s", err, logged)
	}
}
