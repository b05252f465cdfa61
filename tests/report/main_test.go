package main

import (
	"reflect"
	"testing"
	"time"
)

func TestFailureLinesKeepWhatTheTestLoggedWithoutDumpedOutput(t *testing.T) {
	lines := []string{
		"=== RUN   TestX\n",
		"    platform_test.go:166: platform slot: waited 12.5s\n",
		"    configure_test.go:325: starter destroy: signal: killed\n",
		"        time=2026-11-30T15:37:45Z level=INFO msg=\"Playbook run finished\"\n",
		"    platform_test.go:330: output of infraflow-worker --dev:\n",
		"--- FAIL: TestX (613.03s)\n",
	}
	got := failureLines(lines)
	want := []string{"configure_test.go:325: starter destroy: signal: killed"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("failureLines = %q, want %q", got, want)
	}
	if w := waitedFor(lines); w != 12500*time.Millisecond {
		t.Errorf("waitedFor = %v, want 12.5s", w)
	}
	if got, want := timing(100*time.Second, lines), "  100.0s (12.5s queued, 87.5s ran)"; got != want {
		t.Errorf("timing = %q, want %q", got, want)
	}
	if got, want := timing(3*time.Second, lines[2:]), "    3.0s"; got != want {
		t.Errorf("timing without a slot = %q, want %q", got, want)
	}
}

func TestSubtestsOfASharedPlatformGetRows(t *testing.T) {
	slot := []string{"    platform_test.go:166: platform slot: waited 0.4s\n"}
	for _, c := range []struct {
		test  string
		lines []string
		want  bool
	}{
		{"TestX", nil, true},
		{"TestOnASharedPlatform/ConfigureStackHosts", slot, true},
		{"TestDriftTTLAndCompensation/drift is reported", nil, false},
	} {
		if got := standsAlone(c.test, c.lines); got != c.want {
			t.Errorf("standsAlone(%q) = %v, want %v", c.test, got, c.want)
		}
	}
}
