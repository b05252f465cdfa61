package pulumistack

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/infraflow/infraflow/internal/stackop"
)

// HostBound says whether a program's stacks must be operated where their
// machines live: the local program's SSH hosts are processes, keys and
// roots on the machine of the worker that created them, and its provider is
// configured with that worker's directory.
func HostBound(program string) bool {
	return program == "local"
}

// Place returns the site of a host-bound stack: the one recorded when it was
// created, or this worker's for a stack that does not exist yet (Open records
// it when it creates the stack there). The record is in the backend, so every
// worker sharing it agrees.
func (e Env) Place(ctx context.Context, ref stackop.Ref) (string, error) {
	if e.Site == "" {
		return "", fmt.Errorf("placing %s: this worker has no site", ref)
	}
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return "", err
	}
	site, err := s.read(ctx, siteKey(ref))
	if errors.Is(err, os.ErrNotExist) {
		return e.Site, nil
	}
	if err != nil {
		return "", fmt.Errorf("placing %s: %w", ref, err)
	}
	return string(site), nil
}

func siteKey(ref stackop.Ref) string {
	return ".infraflow/sites/" + projectOf(ref) + "/" + ref.Stack
}

// claimSite records this worker's site as the stack's unless one is
// recorded, and refuses to operate on a stack of another site: its hosts are
// not here, and a provider run here would make them again.
func (e Env) claimSite(ctx context.Context, ref stackop.Ref) error {
	if e.Site == "" || !HostBound(ref.Program) {
		return nil
	}
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return err
	}
	if err := s.write(ctx, siteKey(ref), []byte(e.Site), true); err != nil {
		return fmt.Errorf("recording the site of %s: %w", ref, err)
	}
	site, err := s.read(ctx, siteKey(ref))
	if err != nil {
		return fmt.Errorf("reading the site of %s: %w", ref, err)
	}
	if string(site) != e.Site {
		return fmt.Errorf("stack %s lives at site %s, where its hosts are; this worker is site %s and leaves it alone (its operations go to the task queue of site %s)", ref, site, e.Site, site)
	}
	return nil
}
