package benchenv

import (
	"slices"
	"strings"
	"testing"
)

func TestIsolatedDropsPersonalSettings(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", "elsewhere:7233")
	t.Setenv("INFRAFLOW_CHAT_WEBHOOK_URL", "https://hooks.example/real")
	t.Setenv("XDG_CONFIG_HOME", "/home/me/.config")
	env := Isolated("/tmp/bench")
	for _, kv := range env {
		if strings.HasPrefix(kv, "TEMPORAL_") || strings.HasPrefix(kv, "INFRAFLOW_") || kv == "XDG_CONFIG_HOME=/home/me/.config" {
			t.Errorf("%s leaked into the benchmark's environment", kv)
		}
	}
	if !slices.Contains(env, "XDG_CONFIG_HOME=/tmp/bench/config") {
		t.Errorf("no config dir of the benchmark's own in %v", env)
	}
}
