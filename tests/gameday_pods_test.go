package tests

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

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

// A probe that cannot measure before any fault (here: its Deployment does
// not exist yet) is waited for, as when the API server restarts: one dry
// run goes on once the Deployment appears; the other, whose Deployment never
// does, ends not steady after its attempts, having injected nothing.
func testGameDayWaitsForAWorkloadItCannotMeasureYet(t *testing.T, p *platform) {
	p.mustKubectl(t, "create", "namespace", "gd-wait")
	spec := func(workload string) gameday.Experiment {
		return gameday.Experiment{
			Title: workload + " is available", ProbeInterval: "2s", RecoveryTimeout: "30s", DryRun: true,
			SteadyState: gameday.SteadyState{Probes: []gameday.Probe{{Name: workload + "-available", Kind: gameday.ProbeAvailableReplicas,
				Workload: &gameday.WorkloadProbe{Kind: "deployment", Namespace: "gd-wait", Name: workload}}}},
			Method: []gameday.Fault{{Name: "half-the-pods", Kind: gameday.FaultPodDelete, Duration: "4s",
				Pods: &gameday.PodSelection{Namespace: "gd-wait", Selector: "app=" + workload, TargetShare: gameday.TargetShare{Percentage: 50}}}},
		}
	}
	start := func(id string, spec gameday.Experiment) {
		t.Helper()
		input, err := json.Marshal(workflows.GameDayInput{Spec: spec, Requester: "dave"})
		if err != nil {
			t.Fatal(err)
		}
		p.mustTemporal("workflow", "start", "--type", "GameDay", "--task-queue", p.taskQueue, "--workflow-id", id, "--input", string(input))
	}
	start("gameday-wait-late", spec("late"))
	start("gameday-wait-never", spec("never"))

	// The first round could not measure "late" and is being tried again:
	// only now does the Deployment appear (scaled to zero, it holds as soon
	// as it exists).
	retried := regexp.MustCompile(`WorkflowID=gameday-wait-late .*SteadyStateUnmeasured`)
	for deadline := time.Now().Add(time.Minute); !retried.MatchString(p.log.String()); time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt of gameday-wait-late's first round in the worker log:\n%s", p.log)
		}
	}
	p.mustKubectl(t, "create", "deployment", "late", "-n", "gd-wait", "--image", "nginx:1.27", "--replicas", "0")

	res, status := p.gameDayOutcome(t, "gameday-wait-late")
	if status != "COMPLETED" || res.Outcome != workflows.GameDayDryRun || len(res.Timeline) != 1 || !res.Timeline[0].OK {
		t.Errorf("gameday-wait-late: %s %s (%s), timeline %+v: want a dry run whose steady state held once the Deployment appeared", status, res.Outcome, res.Reason, res.Timeline)
	}
	res, status = p.gameDayOutcome(t, "gameday-wait-never")
	if status != "COMPLETED" || res.Outcome != workflows.GameDayNotSteady || !strings.Contains(res.Reason, "could not be measured before any fault, in 9 attempts") ||
		len(res.Faults) != 0 || len(res.Timeline) != 1 || !res.Timeline[0].Results[0].Unmeasured {
		t.Errorf("gameday-wait-never: %s %s (%s), faults %+v: want not steady after its attempts, nothing injected, the last round unmeasured", status, res.Outcome, res.Reason, res.Faults)
	}
}
