package pulumistack

import (
	"context"
	"fmt"

	"github.com/infraflow/infraflow/internal/stackop"
)

// HostBound says whether a program's stacks must be operated where their
// machines live: the local program's SSH hosts are processes, keys and
// roots on the machine of the worker that created them, and its provider is
// configured with that worker's directory.
func HostBound(program string) bool {
	return program == "local"
}

// Place returns the site of a host-bound stack: the site recorded when it
// was first placed, or this worker's, recorded now. The record is in the
// backend, so every worker sharing it agrees; the first to record wins.
func (e Env) Place(ctx context.Context, ref stackop.Ref) (string, error) {
	if e.Site == "" {
		return "", fmt.Errorf("placing %s: this worker has no site", ref)
	}
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return "", err
	}
	key := ".infraflow/sites/" + projectOf(ref) + "/" + ref.Stack
	if err := s.write(ctx, key, []byte(e.Site), true); err != nil {
		return "", fmt.Errorf("placing %s: %w", ref, err)
	}
	site, err := s.read(ctx, key)
	if err != nil {
		return "", fmt.Errorf("placing %s: %w", ref, err)
	}
	return string(site), nil
}
