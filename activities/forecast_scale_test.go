package activities

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"go.temporal.io/sdk/temporal"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/scaletarget"
	"github.com/infraflow/infraflow/internal/tracereplay"

	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/testtier"
)

// startReplayThroughPrometheus plays nyc_taxi (one step per tick) through the
// exporter and a real Prometheus scraping it every second.
func startReplayThroughPrometheus(t *testing.T, tick time.Duration) (*tracereplay.Player, *localenv.Prometheus) {
	t.Helper()
	testtier.RealTools(t, "Prometheus")
	if _, err := localenv.FindPrometheus(); err != nil {
		t.Fatalf("no Prometheus binary (make tools installs the Debian prometheus package): %v", err)
	}
	player, err := tracereplay.NewFromFile(testtier.TraceFile(t, "nyc_taxi.csv"), tick, 100)
	if err != nil {
		t.Fatal(err)
	}
	exporter, err := tracereplay.Serve("127.0.0.1:0", player)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exporter.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prom, err := localenv.StartPrometheus(ctx, localenv.PrometheusOptions{DataDir: t.TempDir(), Targets: []string{exporter.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	return player, prom
}

func TestFetchMetricsReadsATraceReplayedThroughRealPrometheus(t *testing.T) {
	player, prom := startReplayThroughPrometheus(t, 2*time.Second)
	a := &Activities{Scale: ScaleConfig{PrometheusURLs: []string{prom.URL}}}
	// Wait for the first scrape, then for seven more seconds of them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		end := time.Now().Truncate(time.Second)
		w, err := a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Query: `sum(infraflow_trace_demand)`, End: end, Window: time.Second, Step: time.Second})
		if err == nil && w.Values[len(w.Values)-1] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample from the exporter after 30s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(7 * time.Second)
	end := time.Now().Truncate(time.Second)
	w, err := a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Query: `sum(infraflow_trace_demand{trace="nyc_taxi"})`, End: end, Window: 6 * time.Second, Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Values) != 7 || !w.Start.Equal(end.Add(-6*time.Second)) {
		t.Fatalf("window %+v: want 7 samples from %s", w, end.Add(-6*time.Second))
	}
	for i, v := range w.Values {
		at := w.Start.Add(time.Duration(i) * time.Second)
		if v == nil {
			t.Errorf("sample %d at %s missing", i, at)
			continue
		}
		// The sample at t is the latest scrape at or before t (scrapes every 1s).
		now, before := player.Value(at), player.Value(at.Add(-1500*time.Millisecond))
		if *v != now && *v != before {
			t.Errorf("sample %d at %s = %v, want the trace's value then (%v or %v)", i, at, *v, now, before)
		}
	}
	distinct := map[float64]bool{}
	for _, v := range w.Values {
		if v != nil {
			distinct[*v] = true
		}
	}
	if len(distinct) < 2 {
		t.Errorf("values %v: a trace played at 2s per step should move within 6s", distinct)
	}

	// A window reaching back before Prometheus started: those steps are not
	// gaps, the window starts at the first sample.
	long, err := a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Query: `sum(infraflow_trace_demand)`, End: end, Window: 5 * time.Minute, Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if long.Before < 200 || long.Values[0] == nil || long.Missing != 0 || len(long.Values)+long.Before != 301 {
		t.Errorf("5-minute window of a 20-second-old series: before %d, first %v, missing %d, %d values; want the leading steps left out", long.Before, long.Values[0], long.Missing, len(long.Values))
	}

	// The forecast activity on what Prometheus returned.
	f, err := a.ForecastDemand(context.Background(), scaleop.ForecastInput{Window: w, Horizon: 2, Season: 288 * 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if f.Problem == "" || !strings.Contains(f.Problem, "the forecaster needs") {
		t.Errorf("7 samples: problem %q, want too few samples named", f.Problem)
	}

	// A query matching nothing, and a server not in the worker's list.
	if _, err := a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Query: `nothing_here`, End: end, Window: 6 * time.Second, Step: time.Second}); err == nil || !strings.Contains(err.Error(), "no series") {
		t.Errorf("empty range: err = %v, want no series", err)
	}
	var appErr *temporal.ApplicationError
	_, err = a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Prometheus: "http://169.254.169.254", Query: "up", End: end, Window: time.Minute, Step: time.Second})
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != scaleop.ErrTypeScaleNotAllowed {
		t.Errorf("foreign Prometheus: err = %v, want non-retryable %s", err, scaleop.ErrTypeScaleNotAllowed)
	}
	prom.Stop()
	if _, err := a.FetchMetrics(context.Background(), scaleop.MetricsQuery{Query: "up", End: end, Window: time.Minute, Step: time.Second}); err == nil || !strings.Contains(err.Error(), "querying Prometheus") {
		t.Errorf("Prometheus down: err = %v, want the connection failure", err)
	}
}

func TestForecastDemandForecastsAndChecksEarlierForecasts(t *testing.T) {
	s, err := tracereplay.Load(testtier.TraceFile(t, "nyc_taxi.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// 30-minute data: a 48-step day; three weeks of history, one sample missing.
	start := s.Start
	y := s.Values[:21*48]
	w := scaleop.MetricsWindow{Start: start, Step: s.Step, Values: make([]*float64, len(y))}
	for i := range y {
		if i != 100 {
			w.Values[i] = &y[i]
		}
	}
	w.Missing = 1
	past := w.End().Add(-2 * s.Step)
	pending := []scaleop.ForecastPoint{{At: past, Value: 1000, Model: "m"}, {At: w.End().Add(s.Step), Value: 5, Model: "m"}}
	f, err := (&Activities{}).ForecastDemand(context.Background(), scaleop.ForecastInput{Window: w, Horizon: 2, Season: 24 * time.Hour, Pending: pending})
	if err != nil || f.Problem != "" {
		t.Fatalf("forecast: %v %q", err, f.Problem)
	}
	if f.Filled != 1 || len(f.Point) != 2 || f.BacktestAccuracy == nil || *f.BacktestAccuracy < 0.5 || f.Model == "" {
		t.Fatalf("forecast %+v: want 2 steps, 1 filled, a model and its backtest accuracy", f)
	}
	next := s.Values[21*48]
	if math.Abs(f.Point[0]-next)/next > 0.2 || f.Lower[0] > f.Point[0] || f.Upper[0] < f.Point[0] {
		t.Errorf("forecast %.0f [%.0f, %.0f] for actual %.0f: want within 20%% and inside its interval", f.Point[0], f.Lower[0], f.Upper[0], next)
	}
	if !f.At[0].Equal(w.End().Add(s.Step)) {
		t.Errorf("first forecast at %s, want one step after %s", f.At[0], w.End())
	}
	if len(f.Checks) != 1 || f.Checks[0].Actual != y[len(y)-3] || f.Checks[0].Forecast != 1000 || len(f.StillPending) != 1 {
		t.Errorf("checks %+v pending %+v: want the past forecast checked and the future one kept", f.Checks, f.StillPending)
	}
}

func TestKubernetesScaleIsACompareAndSetOnTheRealAPIServer(t *testing.T) {
	testtier.PinnedTools(t, "etcd and kube-apiserver")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	kube, err := localenv.StartKubernetes(ctx, localenv.KubernetesOptions{DataDir: t.TempDir(), APIServerAddress: addr, APIServerOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kube.Stop)
	cs, err := kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := &Activities{Scale: ScaleConfig{Kubeconfig: kube.Kubeconfig}}
	ref := scaleop.ScaleTargetRef{Kind: "deployment", Name: "web"}
	obs, err := a.ReadReplicas(ctx, ref)
	if err != nil || obs.Replicas != 2 || obs.Target != "kubernetes/default/deployment/web" {
		t.Fatalf("read: %+v %v, want 2 replicas", obs, err)
	}
	specReplicas := func() int32 {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	r, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 5})
	if err != nil || r.Outcome != scaleop.Applied || specReplicas() != 5 {
		t.Fatalf("apply 2→5: %+v %v, deployment at %d", r, err, specReplicas())
	}
	// The same apply again (a retried activity, a duplicate tick): nothing changes.
	r, err = a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 5})
	if err != nil || r.Outcome != scaleop.AlreadyApplied || specReplicas() != 5 {
		t.Errorf("retried apply: %+v %v, want already-applied", r, err)
	}
	// A tick that observed 2 and decided 3 after the change to 5: conflict, 5 stays.
	r, err = a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 3})
	if err != nil || r.Outcome != scaleop.Conflict || r.Current != 5 || specReplicas() != 5 {
		t.Errorf("stale apply: %+v %v, deployment %d; want a conflict and 5 kept", r, err, specReplicas())
	}
	var appErr *temporal.ApplicationError
	if _, err := a.ReadReplicas(ctx, scaleop.ScaleTargetRef{Kind: "statefulset", Name: "nope"}); !errors.As(err, &appErr) || appErr.Type() != scaleop.ErrTypeScaleTargetNotFound || !appErr.NonRetryable() {
		t.Errorf("missing statefulset: err = %v, want non-retryable %s", err, scaleop.ErrTypeScaleTargetNotFound)
	}
	if _, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 5, Desired: 0}); !errors.As(err, &appErr) || !appErr.NonRetryable() || specReplicas() != 5 {
		t.Errorf("apply 0: err = %v, want refused", err)
	}
}

// startMoto runs moto's server (the machine image's copy) on a free port,
// as worker --dev does.
func startMoto(t *testing.T) string {
	t.Helper()
	testtier.RealTools(t, "moto's server")
	moto, err := localenv.StartMoto(context.Background(), t.TempDir(), "")
	if err != nil {
		t.Fatalf("%v; PlatformCheck reports moto", err)
	}
	t.Cleanup(moto.Stop)
	return moto.URL
}

func TestAutoScalingGroupDesiredCapacityIsACompareAndSetOnMoto(t *testing.T) {
	endpoint := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	c, err := scaletarget.AutoScalingClient(ctx, "us-east-1", endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("web-lc"), ImageId: aws.String("ami-12c6146b"), InstanceType: aws.String("t3.micro"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("web-asg"), LaunchConfigurationName: aws.String("web-lc"),
		MinSize: aws.Int32(1), MaxSize: aws.Int32(10), DesiredCapacity: aws.Int32(2), AvailabilityZones: []string{"us-east-1a"},
	}); err != nil {
		t.Fatal(err)
	}
	a := &Activities{Scale: ScaleConfig{AWSEndpoint: endpoint, AWSRegion: "us-east-1"}}
	ref := scaleop.ScaleTargetRef{Kind: "aws-asg", Name: "web-asg"}
	obs, err := a.ReadReplicas(ctx, ref)
	if err != nil || obs.Replicas != 2 || obs.Target != "aws-asg/web-asg" {
		t.Fatalf("read: %+v %v, want 2", obs, err)
	}
	instances := func() int {
		out, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-asg"}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.AutoScalingGroups[0].Instances)
	}
	r, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 4})
	if err != nil || r.Outcome != scaleop.Applied {
		t.Fatalf("apply 2→4: %+v %v", r, err)
	}
	if obs, _ := a.ReadReplicas(ctx, ref); obs.Replicas != 4 || instances() != 4 {
		t.Errorf("after apply: desired %d, %d instances; want 4 and 4", obs.Replicas, instances())
	}
	if r, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 4}); err != nil || r.Outcome != scaleop.AlreadyApplied {
		t.Errorf("retried apply: %+v %v, want already-applied", r, err)
	}
	if r, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 2, Desired: 3}); err != nil || r.Outcome != scaleop.Conflict || r.Current != 4 {
		t.Errorf("stale apply: %+v %v, want a conflict at 4", r, err)
	}
	var appErr *temporal.ApplicationError
	if _, err := a.ApplyReplicas(ctx, scaleop.ApplyReplicasInput{Target: ref, Expected: 4, Desired: 11}); !errors.As(err, &appErr) || !appErr.NonRetryable() {
		t.Errorf("apply beyond the group's max: err = %v, want non-retryable", err)
	}
	if _, err := a.ReadReplicas(ctx, scaleop.ScaleTargetRef{Kind: "aws-asg", Name: "nope"}); !errors.As(err, &appErr) || appErr.Type() != scaleop.ErrTypeScaleTargetNotFound {
		t.Errorf("missing group: err = %v, want %s", err, scaleop.ErrTypeScaleTargetNotFound)
	}
}
