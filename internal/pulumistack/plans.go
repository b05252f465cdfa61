package pulumistack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/infraflow/infraflow/internal/stackop"
)

// ErrPlanRefused is returned for a saved plan that cannot be applied.
var ErrPlanRefused = errors.New("saved plan refused")

var planDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// planKey is where a saved plan lives: in the backend beside the state, not
// in one worker's files, because the apply may run on any worker.
func planKey(ref stackop.Ref, plan stackop.SavedPlan) string {
	return ".infraflow/plans/" + projectOf(ref) + "/" + ref.Stack + "/" + strings.TrimPrefix(plan.Digest, "sha256:") + ".json"
}

// NewPlanFile returns a path for a preview to save its plan to (the CLI
// writes a file); StorePlan then files it in the backend under its digest.
func (e Env) NewPlanFile(stackop.Ref) (string, error) {
	f, err := os.CreateTemp("", "infraflow-plan-*.json")
	if err != nil {
		return "", fmt.Errorf("a plan file: %w", err)
	}
	return f.Name(), f.Close()
}

// StorePlan files the plan a preview saved at path under the SHA-256 of its
// content. Equal plans share a blob, so a retried preview adds none.
func (e Env) StorePlan(ctx context.Context, ref stackop.Ref, path string) (stackop.SavedPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return stackop.SavedPlan{}, fmt.Errorf("reading the saved plan: %w", err)
	}
	if !json.Valid(data) {
		return stackop.SavedPlan{}, fmt.Errorf("the preview saved a plan that is not JSON (%s)", path)
	}
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return stackop.SavedPlan{}, err
	}
	sum := sha256.Sum256(data)
	plan := stackop.SavedPlan{Digest: "sha256:" + hex.EncodeToString(sum[:])}
	if err := s.write(ctx, planKey(ref, plan), data, true); err != nil {
		return stackop.SavedPlan{}, fmt.Errorf("filing the saved plan: %w", err)
	}
	// The same plan saved before must still be intact: keeping a changed
	// one would hide that it was changed.
	if _, err := e.planContent(ctx, ref, plan); err != nil {
		return stackop.SavedPlan{}, fmt.Errorf("%w; remove it once you know why", err)
	}
	return plan, nil
}

// PlanFile writes a saved plan to a file for the CLI after checking that its
// content still has its digest: a plan changed after it was approved is
// refused. Remove the file when done.
func (e Env) PlanFile(ctx context.Context, ref stackop.Ref, plan stackop.SavedPlan) (string, error) {
	data, err := e.planContent(ctx, ref, plan)
	if err != nil {
		return "", err
	}
	path, err := e.NewPlanFile(ref)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("writing plan %s: %w", plan.Digest, err)
	}
	return path, nil
}

func (e Env) planContent(ctx context.Context, ref stackop.Ref, plan stackop.SavedPlan) ([]byte, error) {
	if !planDigest.MatchString(plan.Digest) {
		return nil, fmt.Errorf("%w: %q is not a plan digest (sha256:<64 hex digits>)", ErrPlanRefused, plan.Digest)
	}
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return nil, err
	}
	key := planKey(ref, plan)
	data, err := s.read(ctx, key)
	if errors.Is(err, os.ErrNotExist) && e.Backend == "" {
		// Plans saved before they moved into the backend, by this worker,
		// for approvals that may still be waiting.
		data, err = os.ReadFile(filepath.Join(e.StateDir, "plans", projectOf(ref), ref.Stack, strings.TrimPrefix(plan.Digest, "sha256:")+".json"))
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: plan %s of %s is not in the backend (%s)", ErrPlanRefused, plan.Digest, ref, key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading plan %s: %w", plan.Digest, err)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != plan.Digest {
		return nil, fmt.Errorf("%w: %s was changed after it was saved (its content is now %s)", ErrPlanRefused, key, got)
	}
	return data, nil
}
