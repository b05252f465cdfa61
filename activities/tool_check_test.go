package activities

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/toolchain"
)

// A tool that does not answer in time is missing but slow, so CheckTool tries
// it again before reporting it; one that answers, or is absent, is not slow.
func TestCheckCommandTellsSlowFromMissing(t *testing.T) {
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 200 * time.Millisecond
	version := regexp.MustCompile(`v(\d+\.\d+)`)
	cases := []struct {
		tool       toolchain.Tool
		wantStatus string
		wantSlow   bool
	}{
		{toolchain.Tool{Name: "slow", Command: "sleep", Args: []string{"5"}, VersionPattern: version}, toolchain.ToolMissing, true},
		{toolchain.Tool{Name: "fast", Command: "echo", Args: []string{"v1.2"}, VersionPattern: version}, toolchain.ToolOK, false},
		{toolchain.Tool{Name: "absent", Command: "no-such-tool-infraflow", VersionPattern: version}, toolchain.ToolMissing, false},
		{toolchain.Tool{Name: "unhealthy", Command: "echo", Args: []string{"v1.2"}, VersionPattern: version, Health: []string{"sleep", "5"}}, toolchain.ToolMissing, true},
	}
	for _, c := range cases {
		status, slow := checkCommand(context.Background(), c.tool)
		if status.Status != c.wantStatus || slow != c.wantSlow {
			t.Errorf("%s: status %q slow %v (%s), want %q slow %v", c.tool.Name, status.Status, slow, status.Detail, c.wantStatus, c.wantSlow)
		}
	}
}
