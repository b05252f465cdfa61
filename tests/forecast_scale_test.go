package tests

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/promrange"
	"github.com/infraflow/infraflow/internal/scaletarget"
	"github.com/infraflow/infraflow/internal/testtier"
	"github.com/infraflow/infraflow/internal/tracereplay"
	"github.com/infraflow/infraflow/workflows"
)

// startAPIServer runs etcd + kube-apiserver (the scale subresource needs no
// more) from where `make tools` links them; StartKubernetes names any that
// are missing.
func startAPIServer(t *testing.T) (*localenv.Kubernetes, *kubernetes.Clientset) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kube, err := localenv.StartKubernetes(ctx, localenv.KubernetesOptions{DataDir: t.TempDir(), APIServerAddress: freeAddr(t), APIServerOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kube.Stop)
	cs, err := kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return kube, cs
}

// waitForPrometheus waits until the Prometheus a --dev platform starts holds
// a few samples of the trace it replays: a tick started before the first
// scrapes finds no series, and holds.
func (p *platform) waitForPrometheus() {
	p.t.Helper()
	const query, samples = "sum(" + tracereplay.MetricName + ")", 5
	hc := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		end := time.Now()
		g, err := promrange.Fetch(context.Background(), hc, "http://"+p.prometheus, promrange.Query{Expr: query, Start: end.Add(-time.Minute), End: end, Step: time.Second})
		if err != nil {
			last = err.Error()
			continue
		}
		got := 0
		for _, v := range g.Values {
			if !math.IsNaN(v) {
				got++
			}
		}
		if got >= samples {
			return
		}
		last = fmt.Sprintf("%d samples", got)
	}
	p.t.Fatalf("Prometheus at %s has not %d samples of %s after 2 minutes (%s); worker log:\n%s", p.prometheus, samples, query, last, p.log)
}

func createDeployment(t *testing.T, cs *kubernetes.Clientset, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	if _, err := cs.AppsV1().Deployments("default").Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx:1.27"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func specReplicas(t *testing.T, cs *kubernetes.Clientset, name string) int {
	t.Helper()
	d, err := cs.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return int(*d.Spec.Replicas)
}

// ticks returns the results of the completed ForecastScale runs a schedule started, oldest first.
func ticks(t *testing.T, c client.Client, schedule string) []workflows.ForecastScaleResult {
	t.Helper()
	ctx := context.Background()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
		Query: fmt.Sprintf("WorkflowType = 'ForecastScale' AND TemporalScheduledById = '%s' AND ExecutionStatus = 'Completed'", schedule)})
	if err != nil {
		t.Fatal(err)
	}
	var out []workflows.ForecastScaleResult
	for _, e := range resp.GetExecutions() {
		var r workflows.ForecastScaleResult
		if err := c.GetWorkflow(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()).Get(ctx, &r); err != nil {
			t.Fatal(err)
		}
		out = append([]workflows.ForecastScaleResult{r}, out...) // the list is newest first
	}
	return out
}

// TestForecastScaleScheduleFollowsAReplayedTraceThroughPrometheus is the loop
// end to end: worker --dev replays nyc_taxi through its exporter and a real
// Prometheus, a Schedule made by the starter runs ForecastScale every 3 s, and
// the Deployment on a real API server follows; a forecast-only loop beside it
// records its decisions and changes nothing.
func TestForecastScaleScheduleFollowsAReplayedTraceThroughPrometheus(t *testing.T) {
	t.Parallel()
	if _, err := localenv.FindPrometheus(); err != nil {
		t.Fatalf("no Prometheus (make tools installs the Debian prometheus package): %v", err)
	}
	kube, cs := startAPIServer(t)
	createDeployment(t, cs, "web", 1)
	createDeployment(t, cs, "shadow", 1)
	trace := testtier.TraceFile(t, "nyc_taxi.csv")
	p := newPlatform(t).withoutKubernetes().withMoto() // its own API server is enough
	p.replayTrace = trace
	p.extraArgs = []string{"--kubeconfig", kube.Kubeconfig}
	p.start()
	p.waitForPrometheus()
	// The same loop on an AWS Auto Scaling group, in the moto server the
	// platform started as `make dev` does.
	if !strings.Contains(p.log.String(), "AWS (moto):  http://"+p.moto) {
		t.Fatalf("the platform's banner does not show its moto server:\n%s", p.log.String())
	}
	asg := motoAutoScalingClient(t, "http://"+p.moto)
	createAutoScalingGroup(t, asg, "web-asg", 1)
	input := func(kind, target, mode string) string {
		return fmt.Sprintf(`{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "2m", "season": "48s"},
			"target": {"kind": %q, "name": %q}, "mode": %q,
			"policy": {"minReplicas": 1, "maxReplicas": 40, "targetUtilization": 0.7, "capacityPerReplica": 2000, "startupLead": "2s"}}`, kind, target, mode)
	}
	for _, s := range []struct{ id, kind, target, mode string }{
		{"e2e-web", "deployment", "web", "apply"}, {"e2e-shadow", "deployment", "shadow", "forecast-only"}, {"e2e-asg", "aws-asg", "web-asg", "apply"},
	} {
		if out, errOut, err := p.starter("schedule", "scaling", "create", s.id, "--every", "3s", "--input", input(s.kind, s.target, s.mode)); err != nil {
			t.Fatalf("schedule create %s: %v\n%s%s", s.id, err, out, errOut)
		}
	}
	if out, _, err := p.starter("schedule", "scaling", "list"); err != nil || !strings.Contains(out, "e2e-web") || !strings.Contains(out, "e2e-shadow") {
		t.Fatalf("schedule list: %v\n%s", err, out)
	}

	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Until a tick has applied a change it decided from a forecast (the
	// forecaster needs ~30 s of samples; on a busy machine, more ticks).
	var web []workflows.ForecastScaleResult
	deadline := time.Now().Add(5 * time.Minute)
	for {
		web = ticks(t, c, "e2e-web")
		predictiveApplied := false
		for _, r := range web {
			predictiveApplied = predictiveApplied || (r.Tick.Outcome == workflows.ScaleApplied && r.Tick.Decision.Mode == "predictive")
		}
		if predictiveApplied && len(web) >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 minutes: %d ticks, none applied a forecast's decision; ticks: %+v", len(web), web)
		}
		time.Sleep(2 * time.Second)
	}
	for _, id := range []string{"e2e-web", "e2e-shadow", "e2e-asg"} {
		if out, errOut, err := p.starter("schedule", "scaling", "pause", id); err != nil {
			t.Fatalf("pause %s: %v %s%s", id, err, out, errOut)
		}
	}
	time.Sleep(4 * time.Second) // a tick already started finishes
	web = ticks(t, c, "e2e-web")
	checkScalingReport(t, p, c, "e2e-web", web)
	last := web[len(web)-1].Tick
	if got := specReplicas(t, cs, "web"); got != last.Replicas || got == 1 {
		t.Errorf("deployment web has %d replicas; the last tick (%s) left %d: want the loop's count, moved from 1", got, last.Outcome, last.Replicas)
	}
	changes, predictive := 0, 0
	for i, r := range web {
		tk := r.Tick
		t.Logf("web tick %d: observed %d demand %v model %s forecast %v → %d (%s) %s", i, tk.Observed, deref(tk.Demand), tk.Model, tk.Forecast != nil, tk.Decision.Replicas, tk.Outcome, tk.Reason)
		if tk.Outcome == workflows.ScaleApplied {
			changes++
			if tk.Decision.Mode == "predictive" {
				predictive++
			}
		}
		if tk.Outcome == workflows.ScaleApplied && tk.Decision.Replicas != tk.Replicas {
			t.Errorf("tick %d applied %d but left %d", i, tk.Decision.Replicas, tk.Replicas)
		}
	}
	if changes < 2 || predictive < 1 {
		t.Errorf("%d applied changes, %d from a forecast: want the deployment to follow the trace", changes, predictive)
	}
	if out, err := exec.Command("kubectl", "--kubeconfig", kube.Kubeconfig, "get", "deploy").CombinedOutput(); err == nil {
		t.Logf("kubectl get deploy:\n%s", out)
	}

	shadow := ticks(t, c, "e2e-shadow")
	decidedOther := false
	for _, r := range shadow {
		if r.Tick.Outcome != workflows.ScaleForecastOnly && r.Tick.Outcome != workflows.ScaleHeld {
			t.Errorf("forecast-only tick outcome %s, want forecast-only", r.Tick.Outcome)
		}
		decidedOther = decidedOther || r.Tick.Decision.Replicas != 1
	}
	if got := specReplicas(t, cs, "shadow"); got != 1 || len(shadow) < 3 || !decidedOther {
		t.Errorf("shadow: %d replicas after %d forecast-only ticks (some decided otherwise: %v); want 1, untouched", got, len(shadow), decidedOther)
	}
	// The record through search attributes.
	if out := p.mustTemporal("workflow", "list", "--query", "InfraflowScaleTarget='kubernetes/default/deployment/shadow' AND InfraflowScaleOutcome='forecast-only'"); !strings.Contains(out, "e2e-shadow") {
		t.Errorf("no forecast-only ticks found by search attribute:\n%s", out)
	}
	// The Auto Scaling group followed the same trace: its desired capacity is
	// what its last tick left, moved from 1.
	asgTicks := ticks(t, c, "e2e-asg")
	asgApplied := 0
	for _, r := range asgTicks {
		if r.Tick.Outcome == workflows.ScaleApplied {
			asgApplied++
		}
	}
	if len(asgTicks) == 0 {
		t.Fatal("no tick of the Auto Scaling group's schedule completed")
	}
	if got, lastASG := desiredCapacity(t, asg, "web-asg"), asgTicks[len(asgTicks)-1].Tick; got != lastASG.Replicas || got == 1 || asgApplied == 0 {
		t.Errorf("web-asg's desired capacity is %d after %d ticks (%d applied); the last (%s) left %d: want the loop's count, moved from 1",
			got, len(asgTicks), asgApplied, lastASG.Outcome, lastASG.Replicas)
	}
	for _, id := range []string{"e2e-web", "e2e-shadow", "e2e-asg"} {
		if _, errOut, err := p.starter("schedule", "scaling", "delete", id); err != nil {
			t.Errorf("delete %s: %v %s", id, err, errOut)
		}
	}
	t.Logf("%d web ticks, %d applied changes; %d shadow ticks", len(web), changes, len(shadow))
}

// checkScalingReport runs the real `starter report scaling` on the loop's
// Schedule (its ticks' payloads encrypted by the codec) and on one of its
// runs, and checks the plot files and the table: one row per completed tick,
// oldest first. An ID that names nothing is refused, naming the ID and the fix.
func checkScalingReport(t *testing.T, p *platform, c client.Client, schedule string, completed []workflows.ForecastScaleResult) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "report", schedule)
	started := time.Now()
	out, errOut, err := p.starter("report", "scaling", schedule, "--out", base)
	if err != nil {
		t.Fatalf("starter report scaling %s: %v\n%s%s", schedule, err, out, errOut)
	}
	t.Logf("starter report scaling %s took %s:\n%s%s", schedule, time.Since(started).Round(time.Millisecond), out, errOut)
	checkReportFiles(t, base, 1200, 720, "demand (actual)", "forecast (startup lead ahead)", "prediction interval", "replicas after the tick")
	rows := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(rows) != len(completed)+1 || !strings.HasPrefix(rows[0], "TIME (UTC)") {
		t.Fatalf("the report's table has %d lines for %d completed ticks: want a header and one row per tick:\n%s", len(rows), len(completed), out)
	}
	for i, r := range completed {
		if at := r.Tick.At.UTC().Format(time.DateTime); !strings.HasPrefix(rows[i+1], at+" ") || !strings.Contains(rows[i+1], " "+r.Tick.Outcome+" ") {
			t.Errorf("table row %d %q: want the tick of %s (%s), oldest first", i, rows[i+1], at, r.Tick.Outcome)
		}
	}
	if !strings.Contains(errOut, fmt.Sprintf("schedule %s: %d completed ticks", schedule, len(completed))) {
		t.Errorf("the report does not say what it read: %s", errOut)
	}

	// One run, by its workflow ID.
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", PageSize: 1,
		Query: fmt.Sprintf("TemporalScheduledById = '%s' AND ExecutionStatus = 'Completed'", schedule)})
	if err != nil || len(resp.GetExecutions()) == 0 {
		t.Fatalf("listing a completed run of %s: %v", schedule, err)
	}
	runID := resp.GetExecutions()[0].GetExecution().GetWorkflowId()
	one := filepath.Join(t.TempDir(), "one")
	out, errOut, err = p.starter("report", "scaling", runID, "--out", one, "--width", "800", "--height", "500")
	if err != nil {
		t.Fatalf("starter report scaling %s: %v\n%s%s", runID, err, out, errOut)
	}
	checkReportFiles(t, one, 800, 500, "demand (actual)")
	if rows := strings.Split(strings.TrimRight(out, "\n"), "\n"); len(rows) != 2 {
		t.Errorf("the report of one run has %d lines, want a header and its tick:\n%s", len(rows), out)
	}

	_, errOut, err = p.starter("report", "scaling", "no-such-loop", "--out", filepath.Join(t.TempDir(), "none"))
	if err == nil || !strings.Contains(errOut, `"no-such-loop" is neither a Schedule nor a workflow`) || !strings.Contains(errOut, "starter schedule scaling list") {
		t.Errorf("a report of an ID that names nothing: %v\n%s\nwant it refused, naming the ID and where to find one", err, errOut)
	}
}

// checkReportFiles checks that base.png decodes at the size asked for and
// base.svg parses as XML with the legend's labels as text.
func checkReportFiles(t *testing.T, base string, width, height int, labels ...string) {
	t.Helper()
	f, err := os.Open(base + ".png")
	if err != nil {
		t.Fatalf("the report wrote no PNG: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s.png does not decode: %v", base, err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("%s.png is %dx%d, want %dx%d", base, b.Dx(), b.Dy(), width, height)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatalf("the report wrote no SVG: %v", err)
	}
	texts := map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s.svg does not parse as XML: %v", base, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			inText = el.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts[strings.TrimSpace(string(el))] = true
			}
		case xml.EndElement:
			inText = false
		}
	}
	for _, label := range labels {
		if !texts[label] {
			t.Errorf("%s.svg has no text %q", base, label)
		}
	}
}

// motoAutoScalingClient talks to a moto server, which takes any credentials.
func motoAutoScalingClient(t *testing.T, endpoint string) *autoscaling.Client {
	t.Helper()
	c, err := scaletarget.AutoScalingClient(context.Background(), "us-east-1", endpoint, true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createAutoScalingGroup makes a group (and its launch configuration) of up
// to 40 instances with the desired capacity given.
func createAutoScalingGroup(t *testing.T, c *autoscaling.Client, name string, desired int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String(name + "-lc"), ImageId: aws.String("ami-12c6146b"), InstanceType: aws.String("t3.micro"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), LaunchConfigurationName: aws.String(name + "-lc"),
		MinSize: aws.Int32(1), MaxSize: aws.Int32(40), DesiredCapacity: aws.Int32(desired), AvailabilityZones: []string{"us-east-1a"},
	}); err != nil {
		t.Fatal(err)
	}
}

func desiredCapacity(t *testing.T, c *autoscaling.Client, name string) int {
	t.Helper()
	out, err := c.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describing %s: %v", name, err)
	}
	return int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestForecastScaleTickSurvivesAWorkerKillWithoutApplyingTwice kills the
// worker (SIGKILL) while a tick waits for approval of a big step, restarts
// it, approves, and checks the Deployment changed exactly once.
func TestForecastScaleTickSurvivesAWorkerKillWithoutApplyingTwice(t *testing.T) {
	t.Parallel()
	if _, err := localenv.FindPrometheus(); err != nil {
		t.Fatalf("no Prometheus (make tools installs the Debian prometheus package): %v", err)
	}
	kube, cs := startAPIServer(t)
	createDeployment(t, cs, "web", 1)
	trace := testtier.TraceFile(t, "nyc_taxi.csv")
	p := newPlatform(t).withoutKubernetes() // its own API server is enough
	p.replayTrace = trace
	workerArgs, _ := p.startWithSeparateWorker("scale-crash")
	workerArgs = append(workerArgs, "--kubeconfig", kube.Kubeconfig, "--prometheus-url", "http://"+p.prometheus, "--chat-webhook-url", p.webhook.url())
	proc := startProcess(t, workerBin, workerArgs...)
	p.waitForPrometheus()

	// Reactive (no forecast history needed): nyc_taxi's first hours, which the
	// replay plays first, are thousands of rides per step, many replicas of
	// 500 at 70%: a step beyond approvalStep 2.
	p.mustTemporal("workflow", "start", "--type", "ForecastScale", "--task-queue", "scale-crash", "--workflow-id", "crash-tick", "--input",
		`{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "1m", "season": "48s"},
		  "target": {"kind": "deployment", "name": "web"}, "mode": "reactive",
		  "policy": {"minReplicas": 1, "maxReplicas": 100, "targetUtilization": 0.7, "capacityPerReplica": 500, "approvalStep": 2},
		  "approval": {"requester": "forecast-loop", "approvers": ["alice"]}}`)
	p.webhook.waitFor(t, "crash-tick-approval", "scale kubernetes/default/deployment/web from 1 to")
	proc.kill() // mid-tick: the decision is made, the apply has not happened
	if got := specReplicas(t, cs, "web"); got != 1 {
		t.Fatalf("before approval the deployment has %d replicas, want 1", got)
	}
	proc = startProcess(t, workerBin, workerArgs...)
	if reply := p.chatSend(t, slashCommand("U0ALICE", "approve crash-tick-approval demand is real")); reply.status != 200 {
		t.Fatalf("chat approve answered %d %q", reply.status, reply.Text)
	}
	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.ForecastScaleResult
	if err := c.GetWorkflow(ctx, "crash-tick", "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	tick := res.Tick
	if tick.Outcome != workflows.ScaleApplied || tick.Approval == nil || tick.Approval.Status != workflows.ApprovalApproved {
		t.Fatalf("tick %+v: want approved and applied", tick)
	}
	d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Generation counts spec changes: 1 at creation, 2 after exactly one scale.
	if int(*d.Spec.Replicas) != tick.Decision.Replicas || d.Generation != 2 {
		t.Errorf("deployment: %d replicas, generation %d; want %d and generation 2 (one change)", *d.Spec.Replicas, d.Generation, tick.Decision.Replicas)
	}
	// The same tick duplicated (observing 1 as the first did) applies nothing.
	p.mustTemporal("workflow", "start", "--type", "ForecastScale", "--task-queue", "scale-crash", "--workflow-id", "crash-tick-again", "--input",
		fmt.Sprintf(`{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "1m"}, "target": {"kind": "deployment", "name": "web"},
		  "mode": "reactive", "policy": {"minReplicas": %d, "maxReplicas": %d, "targetUtilization": 0.7, "capacityPerReplica": 500}}`,
			tick.Decision.Replicas, tick.Decision.Replicas))
	var again workflows.ForecastScaleResult
	if err := c.GetWorkflow(ctx, "crash-tick-again", "").Get(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if d2, _ := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); d2.Generation != 2 || again.Tick.Outcome != workflows.ScaleUnchanged {
		t.Errorf("second tick %s, generation %d: want unchanged and no new generation", again.Tick.Outcome, d2.Generation)
	}
	_ = proc

	// The history of the interrupted tick replays against today's code.
	history := filepath.Join(t.TempDir(), "crash-tick.json")
	if err := os.WriteFile(history, []byte(p.mustTemporal("workflow", "show", "--workflow-id", "crash-tick", "-o", "json", "--no-json-shorthand-payloads")), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(history)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	// The original workflow ID: the approval child's ID derives from it.
	if err := replayer.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: "crash-tick"},
	}); err != nil {
		t.Errorf("replaying crash-tick: %v", err)
	}
}

// A Pulumi stack setting follows the loop: each tick that changes the count
// runs ProvisionStack on the stack (preview, policies, up, verification), and
// the Deployment the stack declares ends with the count the tick recorded.
func TestForecastScaleScalesAStackSettingThroughProvisionStack(t *testing.T) {
	t.Parallel()
	if _, err := localenv.FindPrometheus(); err != nil {
		t.Fatalf("no Prometheus (make tools installs the Debian prometheus package): %v", err)
	}
	p := newPlatform(t)
	p.replayTrace = testtier.TraceFile(t, "nyc_taxi.csv")
	p.start()
	p.waitForPrometheus()
	if res, status, err := p.provision(t, "scaled", `{"program": "local", "stack": "scaled", "requester": "dave",
		"config": {"namespace": "scaled", "image": "nginx:1.27", "replicas": 1}}`); err != nil || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provisioning the stack to scale: %s %+v %v", status, res, err)
	}
	// A replica serves 1,400 and the trace's demand needs 2 to 5 of them
	// (at most 5: the local policies allow that without an approval). Which
	// count depends on the replayed hour when the first tick runs: a trace
	// step is a second, and the platform's start and the provisioning take
	// a varying number of them.
	input := `{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "2m", "season": "48s"},
		"target": {"kind": "pulumi-config", "program": "local", "stack": "scaled", "key": "replicas"},
		"policy": {"minReplicas": 1, "maxReplicas": 5, "targetUtilization": 0.7, "capacityPerReplica": 2000}}`
	if out, errOut, err := p.starter("schedule", "scaling", "create", "e2e-stack", "--every", "5s", "--input", input); err != nil {
		t.Fatalf("schedule create: %v\n%s%s", err, out, errOut)
	}
	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var applied *workflows.ScaleTick
	for deadline := time.Now().Add(4 * time.Minute); applied == nil; time.Sleep(2 * time.Second) {
		for _, r := range ticks(t, c, "e2e-stack") {
			if r.Tick.Outcome == workflows.ScaleApplied {
				applied = &r.Tick
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tick applied a new count within 4 minutes: %+v", ticks(t, c, "e2e-stack"))
		}
	}
	if _, errOut, err := p.starter("schedule", "scaling", "delete", "e2e-stack"); err != nil {
		t.Errorf("delete: %v %s", err, errOut)
	}
	needed := applied.Decision.Replicas
	if applied.Forecast == nil && applied.Demand != nil {
		needed = min(5, max(1, int(math.Ceil(*applied.Demand/1400))))
	}
	if applied.Provision != workflows.ProvisionWorkflowID("local", "scaled") || applied.Observed != 1 || needed == 1 || applied.Replicas != needed {
		t.Errorf("applied tick %+v: want 1 → %d (what its demand needs) through provision-local-scaled", *applied, needed)
	}
	// A tick already running when the schedule went may still apply (on a
	// slow machine the replayed trace reaches its night-time trough, and a
	// later tick scales down): the stack ends at the last applied count.
	for deadline := time.Now().Add(4 * time.Minute); running(t, c, "TemporalScheduledById = 'e2e-stack' OR WorkflowId = '"+applied.Provision+"'") > 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("the schedule's ticks or their ProvisionStack still run 4 minutes after the schedule was deleted")
		}
	}
	last := *applied
	for _, r := range ticks(t, c, "e2e-stack") {
		if r.Tick.Outcome == workflows.ScaleApplied {
			last = r.Tick
		}
	}
	res, status, err := p.provisionOutcome(t, applied.Provision)
	if err != nil || res.Status != workflows.ProvisionSucceeded || !res.Verified.InSync {
		t.Errorf("the tick's ProvisionStack run: %s %+v %v", status, res, err)
	}
	want := fmt.Sprintf("%d nginx:1.27", last.Replicas)
	if got := p.mustKubectl(t, "get", "deployment", "web", "-n", "scaled", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"); got != want {
		t.Errorf("the stack's Deployment is %q after the last applied tick (%d → %d at %s), want %q: the count it applied, the image it had",
			got, last.Observed, last.Replicas, last.At.Format(time.TimeOnly), want)
	}
}

// running counts the open workflows that a visibility query matches.
func running(t *testing.T, c client.Client, query string) int {
	t.Helper()
	resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
		Query: "ExecutionStatus = 'Running' AND (" + query + ")"})
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.GetExecutions())
}
