// Package toolchain knows which external tools infraflow runs with, at which
// versions, how to ask each for its version, and how a person fixes a missing one.
package toolchain

import (
	_ "embed"
	"strings"
)

//go:embed versions.env
var versionsEnv string

// Pinned versions, read from versions.env so the install script and the Go code
// cannot disagree.
var (
	TemporalCLIVersion    = pinned("TEMPORAL_CLI_VERSION")
	PulumiVersion         = pinned("PULUMI_VERSION")
	TemporalServerVersion = pinned("TEMPORAL_SERVER_VERSION")
	TemporalUIVersion     = pinned("TEMPORAL_UI_VERSION")
	PostgreSQLVersion     = pinned("POSTGRESQL_VERSION")
	KubernetesVersion     = pinned("KUBERNETES_VERSION")
	EtcdVersion           = pinned("ETCD_VERSION")
	KwokVersion           = pinned("KWOK_VERSION")
	ProviderVersion       = pinned("PROVIDER_VERSION")
	MotoVersion           = pinned("MOTO_VERSION")
	ToxiproxyVersion      = pinned("TOXIPROXY_VERSION")
)

func pinned(key string) string {
	for _, line := range strings.Split(versionsEnv, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	panic("toolchain: versions.env has no " + key)
}
