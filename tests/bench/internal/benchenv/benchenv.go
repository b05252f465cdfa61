// Package benchenv is what the benchmarks' processes share: an environment
// that keeps the developer's own settings out.
package benchenv

import (
	"os"
	"path/filepath"
	"strings"
)

// Isolated is the environment for a benchmark's processes, with their own
// config dir under dir: TEMPORAL_* would point them at another server,
// INFRAFLOW_* could post to a real chat webhook or sign with a personal key,
// and a personal temporal.toml profile (found through the user config dir)
// could switch on TLS or another namespace.
func Isolated(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TEMPORAL_") || strings.HasPrefix(kv, "INFRAFLOW_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}
