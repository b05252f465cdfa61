package pulumistack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/stackop"
)

// A saved plan is filed under its digest and read back only while its
// content still has it.
func TestSavedPlansAreCheckedByDigest(t *testing.T) {
	env := Env{StateDir: t.TempDir()}
	ref := stackop.Ref{Program: "local", Stack: "web"}
	tmp, err := env.NewPlanFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte(`{"resourcePlans": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plan, err := env.StorePlan(ctx, ref, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if !planDigest.MatchString(plan.Digest) {
		t.Fatalf("digest %q", plan.Digest)
	}
	path, err := env.PlanFile(ctx, ref, plan)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != `{"resourcePlans": {}}` {
		t.Errorf("PlanFile wrote %q, want the saved plan", got)
	}
	// The plan is in the backend, beside the state, where every worker reads it.
	stored := filepath.Join(env.StateDir, "state", filepath.FromSlash(planKey(ref, plan)))
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("the plan is not in the backend: %v", err)
	}
	if _, err := env.PlanFile(ctx, stackop.Ref{Program: "local", Stack: "other"}, plan); !errors.Is(err, ErrPlanRefused) {
		t.Errorf("another stack's plan: %v, want refused", err)
	}
	if _, err := env.PlanFile(ctx, ref, stackop.SavedPlan{Digest: "sha256:../../etc/passwd"}); !errors.Is(err, ErrPlanRefused) || !strings.Contains(err.Error(), "is not a plan digest") {
		t.Errorf("a digest that is a path: %v, want refused", err)
	}
	if err := os.WriteFile(stored, []byte(`{"resourcePlans": {"urn": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := env.PlanFile(ctx, ref, plan); !errors.Is(err, ErrPlanRefused) || !strings.Contains(err.Error(), "was changed after it was saved") {
		t.Errorf("a changed plan: %v, want refused as changed", err)
	}
	// Saving the same plan again does not paper over the change.
	again, _ := env.NewPlanFile(ref)
	_ = os.WriteFile(again, []byte(`{"resourcePlans": {}}`), 0o600)
	if _, err := env.StorePlan(ctx, ref, again); !errors.Is(err, ErrPlanRefused) {
		t.Errorf("saving a plan whose earlier copy was changed: %v, want refused", err)
	}

	bad, _ := env.NewPlanFile(ref)
	_ = os.WriteFile(bad, []byte("not json"), 0o600)
	if _, err := env.StorePlan(ctx, ref, bad); err == nil {
		t.Error("a plan that is not JSON was stored")
	}
}
