package pulumistack

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// BackendHealth says where this worker's stacks keep their state, and what
// the backend answered.
type BackendHealth struct {
	// Kind is BackendFile or BackendPostgres.
	Kind string
	// URL is the backend, its password hidden.
	URL string
	// Server is the database's version (PostgreSQL only).
	Server string
	// Stacks counts the stacks the backend holds, of every program.
	Stacks int
}

// CheckBackend reads the backend's list of stacks, the read every stack
// operation begins with: a backend that answers it can hold stacks.
func (e Env) CheckBackend(ctx context.Context) (BackendHealth, error) {
	backend := e.backendURL()
	health := BackendHealth{URL: RedactBackend(backend)}
	kind, err := ParseBackend(backend)
	if err != nil {
		return health, err
	}
	health.Kind = kind
	s, err := storeOf(ctx, backend)
	if err != nil {
		return health, err
	}
	if db := s.db(); db != nil {
		if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&health.Server); err != nil {
			return health, fmt.Errorf("backend %s: %w", health.URL, err)
		}
		health.Server, _, _ = strings.Cut(health.Server, " ")
	}
	keys, err := s.list(ctx, ".pulumi/stacks/")
	if err != nil {
		return health, fmt.Errorf("backend %s: %w", health.URL, err)
	}
	for _, key := range keys {
		// <project>/<stack>.json, or .json.gz when Pulumi compresses state.
		if base := path.Base(key); strings.HasSuffix(base, ".json") || strings.HasSuffix(base, ".json.gz") {
			health.Stacks++
		}
	}
	return health, nil
}
