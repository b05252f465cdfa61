package tests

import (
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/workflows"
)

// Deleting half of a Deployment's pods on the local control plane: the
// Deployment's controller recreates them, the available replicas are back
// at the desired count within the bound, and the hypothesis holds.
func testGameDayPodDeleteHoldsWhenTheControllerRecreatesThePods(t *testing.T, p *platform) {
	p.mustKubectl(t, "create", "namespace", "gd")
	p.mustKubectl(t, "create", "deployment", "web", "-n", "gd", "--image", "nginx:1.27", "--replicas", "4")
	p.waitAvailable(t, "gd", "web", 4)
	before := p.mustKubectl(t, "get", "pods", "-n", "gd", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}")

	spec := gameday.Experiment{
		Title: "web survives losing half its pods", ProbeInterval: "2s", RecoveryTimeout: "90s",
		Approval: &gameday.Approval{Groups: []string{"sre"}},
		SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: "web-available", Kind: gameday.ProbeAvailableReplicas,
			Workload: &gameday.WorkloadProbe{Kind: "deployment", Namespace: "gd", Name: "web"}}}},
		Method: []gameday.Fault{{Name: "half-the-pods", Kind: gameday.FaultPodDelete, Duration: "4s",
			Pods: &gameday.PodSelection{Namespace: "gd", Selector: "app=web", TargetShare: gameday.TargetShare{Percentage: 50}}}},
		// The pods are expected to go: the hypothesis is that they come back.
		Abort: []gameday.AbortCondition{{Kind: gameday.AbortConsecutiveFailures, Count: 1000}},
	}
	id := "gameday-pods"
	p.startGameDay(t, id, spec)
	res, status := p.gameDayOutcome(t, id)
	if status != "COMPLETED" || res.Outcome != workflows.GameDayHeld || !res.HypothesisHeld {
		t.Fatalf("%s %s (%s): want the hypothesis held\ntimeline: %+v", status, res.Outcome, res.Reason, res.Timeline)
	}
	f := res.Faults[0]
	if f.Injection == nil || len(f.Injection.Targets) != 2 {
		t.Fatalf("fault %+v: want 2 of the 4 pods deleted", f)
	}
	for _, pod := range f.Injection.Targets {
		if !strings.Contains(before, pod) {
			t.Errorf("deleted %s, which was not one of the Deployment's pods %q", pod, before)
		}
		if out, _ := p.kubectl(t, "get", "pod", pod, "-n", "gd"); !strings.Contains(out, "NotFound") {
			t.Errorf("pod %s is still there: %s", pod, out)
		}
	}
	t.Logf("recovered %s after the method, score %d", res.TimeToRecover, res.Score)
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "gd", "-o", "jsonpath={.status.availableReplicas}"); got != "4" {
		t.Errorf("available replicas after the game day: %s, want 4", got)
	}
	// The choice was recorded (a ConfigMap) while the fault was in, and the
	// rollback removed the record.
	if out := p.mustKubectl(t, "get", "configmaps", "-n", "gd", "-o", "name"); strings.Contains(out, "infraflow-chaos-") {
		t.Errorf("the fault's record is left behind:\n%s", out)
	}
}
