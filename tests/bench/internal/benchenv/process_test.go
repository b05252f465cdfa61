package benchenv

import (
	"context"
	"strings"
	"testing"
)

// A process is ready when it prints the worker's readiness line, stops on
// SIGINT, and one that ends before it is ready is reported with its output.
func TestStartWaitsForReadinessAndInterruptStops(t *testing.T) {
	ctx := context.Background()
	p, err := Start(ctx, Command{Name: "fake worker", Bin: "bash", Dir: t.TempDir(),
		Args: []string{"-c", `trap 'exit 0' INT; echo "` + readyMarker + `"; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Output(), readyMarker) {
		t.Errorf("output %q lacks the readiness line", p.Output())
	}
	if err := p.Interrupt(); err != nil {
		t.Errorf("interrupt: %v", err)
	}
	if err := p.Interrupt(); err != nil {
		t.Errorf("a second interrupt of an ended process: %v", err)
	}

	_, err = Start(ctx, Command{Name: "broken worker", Bin: "bash", Args: []string{"-c", "echo no config; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "the broken worker process exited before it was ready: exit status 3") || !strings.Contains(err.Error(), "no config") {
		t.Errorf("a process that ends at once: %v", err)
	}
	if got := OutputTails(nil, p); !strings.Contains(got, "--- last output of the fake worker process ---") {
		t.Errorf("OutputTails = %q", got)
	}
}
