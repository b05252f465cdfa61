package pulumistack

import (
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

// planDir holds the stack's saved update plans. It is beside the state, not
// in one worker's temporary directory: a retried apply may run on any worker
// that shares the state.
func (e Env) planDir(ref stackop.Ref) string {
	return filepath.Join(e.StateDir, "plans", "infraflow-"+ref.Program, ref.Stack)
}

// NewPlanFile returns a path for a preview to save its plan to; StorePlan
// then files it under its digest.
func (e Env) NewPlanFile(ref stackop.Ref) (string, error) {
	dir := e.planDir(ref)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("the plans directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "preview-*.json.tmp")
	if err != nil {
		return "", fmt.Errorf("a plan file: %w", err)
	}
	return f.Name(), f.Close()
}

// StorePlan names the plan a preview saved at path by the SHA-256 of its
// content. Equal plans share a file, so a retried preview adds none.
func (e Env) StorePlan(ref stackop.Ref, path string) (stackop.SavedPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return stackop.SavedPlan{}, fmt.Errorf("reading the saved plan: %w", err)
	}
	if !json.Valid(data) {
		return stackop.SavedPlan{}, fmt.Errorf("the preview saved a plan that is not JSON (%s)", path)
	}
	sum := sha256.Sum256(data)
	plan := stackop.SavedPlan{Digest: "sha256:" + hex.EncodeToString(sum[:])}
	// The same plan saved before must still be intact: replacing a changed
	// one would hide that it was changed.
	if _, err := os.Stat(e.planPath(ref, plan)); err == nil {
		if _, err := e.PlanFile(ref, plan); err != nil {
			return stackop.SavedPlan{}, fmt.Errorf("%w; remove it once you know why", err)
		}
	}
	if err := os.Rename(path, e.planPath(ref, plan)); err != nil {
		return stackop.SavedPlan{}, fmt.Errorf("filing the saved plan: %w", err)
	}
	return plan, nil
}

func (e Env) planPath(ref stackop.Ref, plan stackop.SavedPlan) string {
	return filepath.Join(e.planDir(ref), strings.TrimPrefix(plan.Digest, "sha256:")+".json")
}

// PlanFile returns the path of a saved plan after checking that its content
// still has its digest: a plan changed after it was approved is refused.
func (e Env) PlanFile(ref stackop.Ref, plan stackop.SavedPlan) (string, error) {
	if !planDigest.MatchString(plan.Digest) {
		return "", fmt.Errorf("%w: %q is not a plan digest (sha256:<64 hex digits>)", ErrPlanRefused, plan.Digest)
	}
	path := e.planPath(ref, plan)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: plan %s of %s is not in %s", ErrPlanRefused, plan.Digest, ref, e.planDir(ref))
	}
	if err != nil {
		return "", fmt.Errorf("reading plan %s: %w", plan.Digest, err)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != plan.Digest {
		return "", fmt.Errorf("%w: %s was changed after it was saved (its content is now %s)", ErrPlanRefused, path, got)
	}
	return path, nil
}
