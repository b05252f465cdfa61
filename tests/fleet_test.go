package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/workflows"
)

// fleet is a platform whose Temporal server and Pulumi state are both on one
// private PostgreSQL, with its workflows served by separate worker processes.
type fleet struct {
	*platform
	pg      *localenv.Postgres
	backend string
	args    []string // a separate worker's arguments, without --data-dir and --site
}

func startFleet(t *testing.T, queue string) *fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := localenv.StartPostgres(ctx, localenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	if _, err := pg.Query(ctx, "postgres", "CREATE DATABASE pulumi"); err != nil {
		t.Fatal(err)
	}
	p := newPlatform(t)
	p.extraArgs = []string{"--temporal-db", pg.URL("temporal")}
	args, _ := p.startWithSeparateWorker(queue)
	f := &fleet{platform: p, pg: pg, backend: pg.URL("pulumi") + "?sslmode=disable"}
	for i := 0; i < len(args); i++ {
		if args[i] == "--data-dir" {
			i++
			continue
		}
		f.args = append(f.args, args[i])
	}
	f.args = append(f.args, "--pulumi-backend", f.backend)
	return f
}

// worker starts a worker process of the fleet with its own data dir (whose
// hosts are stopped after the test) at a site.
func (f *fleet) worker(t *testing.T, dataDir, site string) *process {
	t.Helper()
	// Each host boots for a few seconds, as a VM would, so that an apply
	// lasts long enough to be killed in the middle.
	return startProcessWithEnv(t, []string{"INFRAFLOW_LOCAL_HOST_BOOT_DELAY=4s"}, workerBin,
		append(slices.Clone(f.args), "--data-dir", dataDir, "--site", site)...)
}

// activityRuns lists, per activity type, the identities of the workers that
// started it, and the task queues it was scheduled on.
func (f *fleet) activityRuns(t *testing.T, id string) (startedBy map[string][]string, queues map[string][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	startedBy, queues = map[string][]string{}, map[string][]string{}
	scheduled := map[int64]string{}
	it := f.sdkClient().GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityType().GetName()
			queues[a.GetActivityType().GetName()] = append(queues[a.GetActivityType().GetName()], a.GetTaskQueue().GetName())
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			name := scheduled[a.GetScheduledEventId()]
			startedBy[name] = append(startedBy[name], a.GetIdentity())
		}
	}
	return startedBy, queues
}

// applyingOn says whether the workflow's ApplyStack runs on a worker whose
// identity ends in suffix, and its engine has made a resource.
func (f *fleet) applyingOn(t *testing.T, id, suffix string) bool {
	t.Helper()
	desc, err := f.sdkClient().DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return false
	}
	for _, a := range desc.GetPendingActivities() {
		if a.GetActivityType().GetName() == "ApplyStack" && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED &&
			strings.HasSuffix(a.GetLastWorkerIdentity(), suffix) {
			pr, ok := f.progressOf(id)
			return ok && pr.Done >= 1 && pr.Done < pr.Total
		}
	}
	return false
}

// waitPlaced waits until a ProvisionStack has placed its stack (its preview
// is scheduled).
func (f *fleet) waitPlaced(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, queues := f.activityRuns(t, id); len(queues["PreviewStack"]) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not place its stack within 2 minutes", id)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Temporal and the Pulumi state on one PostgreSQL, two workers with their own
// data dirs (two sites) on one task queue, 6 local stacks provisioned and
// configured at once, one worker SIGKILLed in the middle of an apply and then
// the Temporal server: each stack's work stays at the site where its hosts
// live, the killed worker's stack waits for it (no other machine can do that
// work) and recovers when it is back, and every stack ends once, with one
// host, one Deployment, one Service and no pending operation in the shared
// state; its next change is planned as an update.
func TestFleetOnPostgreSQLSurvivesAWorkerKilledMidApply(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "fleet")
	dataB, dataC := t.TempDir(), t.TempDir()
	stopHostsUnder(t, dataB)
	stopHostsUnder(t, dataC)
	b := f.worker(t, dataB, "machine-b")
	var ids []string
	launch := func(i int) {
		stack := fmt.Sprintf("fleet-%d", i)
		id := workflows.ProvisionWorkflowID("local", stack)
		ids = append(ids, id)
		f.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", f.taskQueue, "--workflow-id", id, "--input",
			fmt.Sprintf(`{"program": "local", "stack": %q, "requester": "dave", "config": {"namespace": %q, "image": "nginx:1.27", "replicas": 2, "hosts": 1},
			  "configure": {"playbook": "marker.yml", "extraVars": {"marker_message": %q}}}`, stack, stack, stack))
	}
	// The first three are placed while b is alone, so that it has stacks to
	// be killed in the middle of; the others go to whichever worker places
	// them.
	for i := 1; i <= 3; i++ {
		launch(i)
	}
	for _, id := range ids {
		f.waitPlaced(t, id)
	}
	c := f.worker(t, dataC, "machine-c")
	defer func() { c.kill() }()
	for i := 4; i <= 6; i++ {
		launch(i)
	}

	// SIGKILL b while it applies one of its stacks.
	killed := ""
	deadline := time.Now().Add(5 * time.Minute)
	for killed == "" {
		for _, id := range ids {
			if f.applyingOn(t, id, "@machine-b") {
				b.kill()
				killed = id
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no ApplyStack ran on machine-b within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("killed machine-b's worker while it applied %s", killed)
	// While b is down, its stack's apply waits for machine-b: c, which serves
	// the same shared queue, never runs it.
	time.Sleep(25 * time.Second) // past the heartbeat timeout: the retry is scheduled
	if runs, _ := f.activityRuns(t, killed); slices.ContainsFunc(runs["ApplyStack"], func(who string) bool { return strings.HasSuffix(who, "@machine-c") }) {
		t.Fatalf("machine-c applied a stack whose hosts are on machine-b: %v", runs["ApplyStack"])
	}
	// The Temporal server, on PostgreSQL, is SIGKILLed too while c works,
	// and started again on the same database: every workflow resumes.
	f.platform.kill()
	f.restartServer()
	b = f.worker(t, dataB, "machine-b")
	defer func() { b.kill() }()

	sites, workers := map[string]int{}, map[string]int{}
	for _, id := range ids {
		res, status, err := f.provisionOutcome(t, id)
		if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded || res.Configuration == nil ||
			res.Configuration.Status != workflows.ConfigureSucceeded || res.Verified == nil || !res.Verified.InSync {
			t.Errorf("%s: %s %+v %v", id, status, res, err)
			continue
		}
		if id == killed && len(res.Recovered) == 0 {
			t.Errorf("%s was applied when its worker was killed, but its retry recovered nothing", id)
		}
		t.Logf("%s recovered: %v", id, res.Recovered)
		startedBy, queues := f.activityRuns(t, id)
		for _, who := range startedBy {
			for _, w := range who {
				workers[w]++
			}
		}
		site := ""
		for _, q := range queues["ApplyStack"] {
			_, site, _ = strings.Cut(q, "@")
		}
		sites[site]++
		// Everything of the stack, and of its hosts, ran at its site.
		for _, activity := range []string{"PreviewStack", "ApplyStack", "VerifyStack"} {
			for _, who := range startedBy[activity] {
				if !strings.HasSuffix(who, "@"+site) {
					t.Errorf("%s: %s ran on %s, not at the stack's site %s", id, activity, who, site)
				}
			}
			if done := len(startedBy[activity]); activity == "ApplyStack" && id != killed && done != 1 {
				t.Errorf("%s: ApplyStack started %d times, want once", id, done)
			}
		}
		stack := strings.TrimPrefix(id, "provision-local-")
		// The configuration step reached the stack's own host (at its site).
		for _, h := range hostsOf(t, res.Outputs) {
			if marker, err := os.ReadFile(filepath.Join(h.Root, "infraflow-marker")); err != nil || strings.TrimSpace(string(marker)) != stack {
				t.Errorf("%s: host %s holds the marker %q (%v), want %q", stack, h.Name, marker, err, stack)
			}
		}
		deployment := pulumiExportFrom(t, f.backend, stack)
		if pending, ok := deployment["pending_operations"]; ok && len(pending.([]any)) > 0 {
			t.Errorf("%s: pulumi stack export against PostgreSQL shows pending operations: %v", stack, pending)
		}
		if n := countOwn(deployment["resources"].([]any)); n != 4 {
			t.Errorf("%s: the shared state holds %d resources, want 4 (namespace, deployment, service, 1 host)", stack, n)
		}
		if out := f.mustKubectl(t, "get", "deployments,services", "-n", stack, "-o", "name"); strings.Count(out, "\n") != 2 {
			t.Errorf("%s: objects\n%s want one deployment and one service", stack, out)
		}
	}
	t.Logf("stacks per site: %v; activities per worker: %v", sites, workers)
	if sites["machine-b"] < 3 {
		t.Errorf("stacks per site %v, want at least the 3 placed while machine-b was alone", sites)
	}
	if len(workers) < 3 {
		t.Errorf("activities ran on workers %v; want both of machine-b's processes and machine-c's", workers)
	}
	// One sshd per stack, at its site, and no other.
	hosts := 0
	for _, dir := range []string{dataB, dataC} {
		out, _ := exec.Command("pgrep", "-fc", "sshd -f "+filepath.Join(dir, "pulumi", "hosts")).Output()
		var n int
		fmt.Sscan(strings.TrimSpace(string(out)), &n)
		hosts += n
	}
	if hosts != 6 {
		t.Errorf("%d sshd hosts for 6 stacks of 1 host, want 6 (none duplicated)", hosts)
	}
	if n := pgQuery(context.Background(), t, f.pg, "pulumi", "SELECT count(*) FROM infraflow_stack_holds"); n != "0" {
		t.Errorf("%s stack holds left after every operation ended, want 0", n)
	}
	// The next change of each stack is planned against its one shared state,
	// at its site, as an update: nothing to create again.
	for i := 1; i <= 6; i++ {
		stack := fmt.Sprintf("fleet-%d", i)
		res, status, err := f.provision(t, stack, fmt.Sprintf(`{"program": "local", "stack": %q, "operation": "preview", "requester": "dave",
			"config": {"namespace": %q, "image": "nginx:1.27", "replicas": 3, "hosts": 1}}`, stack, stack))
		if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionPreviewed || res.Plan.Summary["update"] != 1 || res.Plan.Summary["create"] != 0 {
			t.Errorf("%s scaled to 3 replicas plans %v (%s %s %v); want one update and nothing created", stack, res.Plan.Summary, status, res.Status, err)
		}
	}
	if n := pgQuery(context.Background(), t, f.pg, "pulumi", "SELECT count(*) FROM pulumi_state WHERE key LIKE 'pulumi/.pulumi/locks/%'"); n != "0" {
		t.Errorf("%s Pulumi locks left, want 0", n)
	}
	// PlatformCheck's backend row shows the shared state, from either worker.
	f.mustTemporal("workflow", "start", "--type", "PlatformCheck", "--task-queue", f.taskQueue,
		"--workflow-id", "fleet-backend-check", "--input", `{"tools": ["pulumi-backend"]}`)
	var check platformCheckResult
	if err := json.Unmarshal([]byte(f.mustTemporal("workflow", "result", "--workflow-id", "fleet-backend-check", "-o", "json")), &struct {
		Result *platformCheckResult `json:"result"`
	}{&check}); err != nil {
		t.Fatal(err)
	}
	if len(check.Tools) != 1 || check.Tools[0].Status != "ok" || !regexp.MustCompile(`^postgres \d+\.\d+$`).MatchString(check.Tools[0].Version) ||
		!strings.HasPrefix(check.Tools[0].Detail, "postgres://") || !strings.HasSuffix(check.Tools[0].Detail, ": 6 stacks") {
		t.Errorf("pulumi-backend row = %+v, want ok, the PostgreSQL's version and its 6 stacks", check.Tools)
	}
}

// A slow apply on a live worker keeps the stack: a second worker of the same
// site, given the retry after the first stopped heartbeating (SIGSTOP: alive,
// but silent), waits for the hold instead of breaking the lock, and goes on
// once the first finishes; the stack ends once, with nothing recovered.
func TestASlowApplyKeepsItsStackWhileAnotherWorkerRetries(t *testing.T) {
	t.Parallel()
	f := startFleet(t, "slow")
	data := t.TempDir()
	stopHostsUnder(t, data)
	first := f.worker(t, data, "machine-a")
	stack := "slow-apply"
	id := workflows.ProvisionWorkflowID("local", stack)
	f.mustTemporal("workflow", "start", "--type", "ProvisionStack", "--task-queue", f.taskQueue, "--workflow-id", id, "--input",
		fmt.Sprintf(`{"program": "local", "stack": %q, "requester": "dave", "config": {"namespace": %q, "image": "nginx:1.27", "replicas": 1, "hosts": 2}}`, stack, stack))
	deadline := time.Now().Add(4 * time.Minute)
	for !f.applyingOn(t, id, "@machine-a") {
		if time.Now().After(deadline) {
			t.Fatal("the apply never started")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = first.cmd.Process.Signal(syscall.SIGCONT)
		}
		first.kill()
	}()
	// The same site's second worker (same machine, same data dir) polls the
	// site's queue and takes the retry once the heartbeat times out.
	second := f.worker(t, data, "machine-a")
	defer second.kill()
	deadline = time.Now().Add(2 * time.Minute)
	waiting := ""
	for waiting == "" {
		desc, err := f.sdkClient().DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range desc.GetPendingActivities() {
			if a.GetActivityType().GetName() != "ApplyStack" || a.GetAttempt() < 2 || a.GetHeartbeatDetails() == nil {
				continue
			}
			var details string
			if err := f.dataConverter(t).FromPayloads(a.GetHeartbeatDetails(), &details); err == nil && strings.Contains(details, "waiting") {
				waiting = details
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retry of the apply waited for the stack within 2 minutes: %v", desc.GetPendingActivities())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("the retry reports: %s", waiting)
	if !strings.Contains(waiting, "held by worker") || !strings.Contains(waiting, "@machine-a") || !strings.Contains(waiting, "which is still running") {
		t.Errorf("the waiting retry says %q; want it to name the live holder", waiting)
	}
	// Keep the first stopped a while longer: the second must go on waiting.
	time.Sleep(10 * time.Second)
	if n := pgQuery(context.Background(), t, f.pg, "pulumi", "SELECT count(*) FROM infraflow_stack_holds"); n != "1" {
		t.Errorf("%s holds while the first worker is stopped, want its 1", n)
	}
	_ = first.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false

	res, status, err := f.provisionOutcome(t, id)
	if err != nil || status != "COMPLETED" || res.Status != workflows.ProvisionSucceeded || res.Verified == nil || !res.Verified.InSync {
		t.Fatalf("%s %+v %v", status, res, err)
	}
	if len(res.Recovered) != 0 {
		t.Errorf("recovered %v: nothing was orphaned, so nothing should have been broken or cleared", res.Recovered)
	}
	deployment := pulumiExportFrom(t, f.backend, stack)
	if pending, ok := deployment["pending_operations"]; ok && len(pending.([]any)) > 0 {
		t.Errorf("pending operations: %v", pending)
	}
	if n := countOwn(deployment["resources"].([]any)); n != 5 {
		t.Errorf("the state holds %d resources, want 5 (namespace, deployment, service, 2 hosts)", n)
	}
	out, _ := exec.Command("pgrep", "-fc", "sshd -f "+filepath.Join(data, "pulumi", "hosts")).Output()
	if got := strings.TrimSpace(string(out)); got != "2" {
		t.Errorf("%s sshd hosts, want 2", got)
	}
}
