package pulumistack

import (
	"errors"
	"os"
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
	plan, err := env.StorePlan(ref, tmp)
	if err != nil {
		t.Fatal(err)
	}
	if !planDigest.MatchString(plan.Digest) {
		t.Fatalf("digest %q", plan.Digest)
	}
	path, err := env.PlanFile(ref, plan)
	if err != nil || !strings.HasPrefix(path, env.StateDir) {
		t.Fatalf("PlanFile = %q, %v; want the plan beside the state", path, err)
	}
	if _, err := env.PlanFile(stackop.Ref{Program: "local", Stack: "other"}, plan); !errors.Is(err, ErrPlanRefused) {
		t.Errorf("another stack's plan: %v, want refused", err)
	}
	if _, err := env.PlanFile(ref, stackop.SavedPlan{Digest: "sha256:../../etc/passwd"}); !errors.Is(err, ErrPlanRefused) || !strings.Contains(err.Error(), "is not a plan digest") {
		t.Errorf("a digest that is a path: %v, want refused", err)
	}
	if err := os.WriteFile(path, []byte(`{"resourcePlans": {"urn": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := env.PlanFile(ref, plan); !errors.Is(err, ErrPlanRefused) || !strings.Contains(err.Error(), "was changed after it was saved") {
		t.Errorf("a changed plan: %v, want refused as changed", err)
	}
	// Saving the same plan again does not paper over the change.
	again, _ := env.NewPlanFile(ref)
	_ = os.WriteFile(again, []byte(`{"resourcePlans": {}}`), 0o600)
	if _, err := env.StorePlan(ref, again); !errors.Is(err, ErrPlanRefused) {
		t.Errorf("saving a plan whose earlier copy was changed: %v, want refused", err)
	}

	bad, _ := env.NewPlanFile(ref)
	_ = os.WriteFile(bad, []byte("not json"), 0o600)
	if _, err := env.StorePlan(ref, bad); err == nil {
		t.Error("a plan that is not JSON was stored")
	}
}
