package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/procs"
	"github.com/infraflow/infraflow/internal/testtier"
	"github.com/infraflow/infraflow/internal/toolchain"
	"github.com/infraflow/infraflow/workflows"
)

// The kill-point sweep (`make soak`) runs rounds of one run of every workflow
// type, SIGKILLs the worker at a random moment of each round (about one round
// in five, the Temporal server instead), restarts what it killed, and checks
// what a crash must never break. It runs for the better part of an hour, so
// `make test` leaves it out.
const (
	soakEnv       = "INFRAFLOW_SOAK"
	soakTrialsEnv = "INFRAFLOW_SOAK_TRIALS"
	soakSeedEnv   = "INFRAFLOW_SOAK_SEED"
	soakQueue     = "soak"
	// soakDeadline bounds how long a round's runs may take to end after its
	// kill: a retried activity waits out its 20 s heartbeat timeout first,
	// and a loaded 2-core machine has taken minutes over a provisioning.
	soakDeadline = 10 * time.Minute
	// The approver of every decision the sweep sends: in the approvers of its
	// own approvals and in the sre group the remediations ask.
	soakApprover = "alice"
)

// soakStacks are the stacks every round shares: ConfigureHosts configures the
// hosts of one, DriftCheck finds drift in the other.
const (
	soakConfigStack = "soak-cfg"
	soakDriftStack  = "soak-drift"
)

// soakKind is one workflow type's part in a round: how its run starts, how
// long a run usually takes (a first guess: rounds learn the real figure, so
// that kills land inside runs), who decides what it waits for, and what must
// hold once it has ended.
type soakKind struct {
	name    string
	typical time.Duration
	// prepare readies the round's run before the round's clock starts.
	prepare func(s *soakSweep, r *soakRound)
	// input is the run's workflow ID and input.
	input func(s *soakSweep, r *soakRound) (id, input string)
	// decide, when set, decides the approvals the run waits for; it runs in
	// its own goroutine from the round's start until ctx ends.
	decide func(ctx context.Context, s *soakSweep, r *soakRound, id string)
	// check returns what is wrong once the run has ended.
	check func(s *soakSweep, r *soakRound, id string) []string
}

// soakKinds covers every workflow type the worker registers (the sweep
// refuses to run when one is missing).
var soakKinds = []soakKind{
	{
		name: "PlatformCheck", typical: 4 * time.Second,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			return fmt.Sprintf("soak-check-r%d", r.n), `{}`
		},
		check: (*soakSweep).checkPlatformCheck,
	},
	{
		name: "Approval", typical: 8 * time.Second,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			return fmt.Sprintf("soak-approval-r%d", r.n), fmt.Sprintf(
				`{"title": "soak round %d", "requester": "dave", "approvers": [%q], "reminderInterval": "0s"}`, r.n, soakApprover)
		},
		// The decision comes a random while after the start: before the
		// kill, while the worker or server is down, or after the restart.
		decide: func(ctx context.Context, s *soakSweep, r *soakRound, id string) {
			select {
			case <-r.started["Approval"]:
			case <-ctx.Done():
				return
			}
			select {
			case <-time.After(r.decisionDelay):
			case <-ctx.Done():
				return
			}
			s.decideUntilAcknowledged(ctx, r, id, r.decision("Approval"))
		},
		check: (*soakSweep).checkApproval,
	},
	{
		name: "ProvisionStack", typical: 25 * time.Second,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			stack := r.provisionStack()
			return workflows.ProvisionWorkflowID("local", stack), localInput(stack, `, "replicas": 2, "hosts": 2`)
		},
		check: (*soakSweep).checkProvision,
	},
	{
		name: "DriftCheck", typical: 15 * time.Second,
		prepare: (*soakSweep).makeDrift,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			return fmt.Sprintf("soak-drift-check-r%d", r.n), fmt.Sprintf(`{"program": "local", "stack": %q}`, soakDriftStack)
		},
		decide: func(ctx context.Context, s *soakSweep, r *soakRound, _ string) {
			s.decideWhenAsked(ctx, r, remediationApprovalPrefix(), "DriftCheck")
		},
		check: (*soakSweep).checkDriftCheck,
	},
	{
		name: "ConfigureHosts", typical: 45 * time.Second,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			return fmt.Sprintf("soak-configure-r%d", r.n), fmt.Sprintf(
				`{"playbook": "site.yml", "inventory": {"stack": {"program": "local", "stack": %q}}, "extraVars": {"app_message": %q}}`,
				soakConfigStack, r.appMessage())
		},
		check: (*soakSweep).checkConfigure,
	},
	{
		name: "ForecastScale", typical: 10 * time.Second,
		prepare: func(s *soakSweep, r *soakRound) { createDeployment(s.t, s.kube, r.scaleTarget(), 1) },
		// Reactive (no forecast history needed) with a step limit of 2: the
		// replayed trace's demand asks for more replicas than that, so a
		// tick usually waits for an approval the sweep decides.
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			return r.scaleTarget(), fmt.Sprintf(`{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "1m", "season": "48s"},
				"target": {"kind": "deployment", "name": %q}, "mode": "reactive",
				"policy": {"minReplicas": 1, "maxReplicas": 6, "targetUtilization": 0.7, "capacityPerReplica": 500, "approvalStep": 2},
				"approval": {"requester": "forecast-loop", "approvers": [%q]}}`, r.scaleTarget(), soakApprover)
		},
		decide: func(ctx context.Context, s *soakSweep, r *soakRound, id string) {
			s.decideWhenAsked(ctx, r, id+"-approval", "ForecastScale")
		},
		check: (*soakSweep).checkForecastScale,
	},
	{
		// Half of a Deployment's pods deleted for 4 s: the controller brings
		// them back, so the hypothesis holds however the kill falls, and the
		// fault's record must be gone at the end.
		name: "GameDay", typical: 20 * time.Second,
		prepare: (*soakSweep).readyGameDayTarget,
		input: func(_ *soakSweep, r *soakRound) (string, string) {
			target := r.gameDayTarget()
			return target, fmt.Sprintf(`{"requester": "dave", "spec": {"title": %q, "probeInterval": "2s", "recoveryTimeout": "2m",
				"approval": {"approvers": [%q]},
				"steadyState": {"probes": [{"name": "available", "kind": "available-replicas", "workload": {"kind": "deployment", "namespace": "default", "name": %q}}]},
				"method": [{"name": "half-the-pods", "kind": "pod-delete", "duration": "4s", "pods": {"namespace": "default", "selector": "app=%s", "percentage": 50}}],
				"abort": [{"kind": "consecutive-failures", "count": 1000}]}}`, target, soakApprover, target, target)
		},
		decide: func(ctx context.Context, s *soakSweep, r *soakRound, id string) {
			s.decideWhenAsked(ctx, r, id+"-approval-", "GameDay")
		},
		check: (*soakSweep).checkGameDay,
	},
}

// soakSweep is the sweep's platform, its separate worker (the process a
// round kills unless it kills the server), and what the rounds found.
type soakSweep struct {
	t          *testing.T
	p          *platform
	rng        *rand.Rand
	c          client.Client
	approvals  *approvals.Client
	kube       *kubernetes.Clientset
	worker     *process
	workerArgs []string
	workerEnv  []string
	workerData string
	// hostsDir holds the SSH hosts of the worker's local stacks, one
	// directory (and one sshd) per host.
	hostsDir string
	// configHosts are soakConfigStack's hosts.
	configHosts []sshHost
	// baseline is PlatformCheck's tool statuses before any kill.
	baseline map[string]string
	// typical is how long a run of each type took lately when no kill hit it.
	typical    map[string]time.Duration
	rounds     int
	tally      map[string]*soakTally
	violations []string
	// straysFound are the stray processes already reported (pid and command line).
	straysFound map[string]bool
}

// soakTally is one workflow type's line of the sweep's table.
type soakTally struct {
	trials, workerKills, serverKills, endedBefore, completedOnce, violated int
}

// soakRound is one run of every type and the kill that lands among them.
type soakRound struct {
	n      int
	begun  time.Time
	killAt time.Time
	// killed is "worker" or "server".
	killed string
	// ids are the runs' workflow IDs by type; started[type] is closed once
	// the run has started.
	ids     map[string]string
	started map[string]chan struct{}
	// decisionDelay is how long after its start the Approval is decided.
	decisionDelay time.Duration

	mu sync.Mutex
	// acked are the decisions the client was told were accepted, by approval
	// workflow ID: each must be in that approval's result.
	acked     map[string]workflows.DecisionRequest
	startErrs map[string]error
	problems  map[string][]string
}

func (r *soakRound) provisionStack() string { return fmt.Sprintf("soak-r%d", r.n) }
func (r *soakRound) scaleTarget() string    { return fmt.Sprintf("soak-scale-r%d", r.n) }
func (r *soakRound) appMessage() string     { return fmt.Sprintf("soak round %d", r.n) }
func (r *soakRound) gameDayTarget() string  { return fmt.Sprintf("soak-gameday-r%d", r.n) }

func (r *soakRound) decision(kind string) workflows.DecisionRequest {
	return workflows.DecisionRequest{Approver: soakApprover, Decision: workflows.DecisionApprove,
		Reason: fmt.Sprintf("soak round %d: %s", r.n, kind), Via: "soak"}
}

func (r *soakRound) ack(id string, req workflows.DecisionRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked[id] = req
}

// ackedWithPrefix returns the acknowledged decisions on approvals whose IDs
// start with prefix.
func (r *soakRound) ackedWithPrefix(prefix string) map[string]workflows.DecisionRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]workflows.DecisionRequest{}
	for id, req := range r.acked {
		if strings.HasPrefix(id, prefix) {
			out[id] = req
		}
	}
	return out
}

func (r *soakRound) failStart(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startErrs[kind] = err
}

// problem records a violation of the round, under a workflow type ("" for
// the whole round).
func (r *soakRound) problem(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems[kind] = append(r.problems[kind], fmt.Sprintf(format, args...))
}

func TestSoakKillPoints(t *testing.T) {
	if os.Getenv(soakEnv) == "" {
		t.Skip("the kill-point sweep runs for the better part of an hour: run it with `make soak`")
	}
	trials := 20
	if v := os.Getenv(soakTrialsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of trials per workflow", soakTrialsEnv, v)
		}
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(soakSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want the unsigned integer a sweep printed", soakSeedEnv, v)
		}
		seed = n
	}
	fmt.Printf("kill-point sweep: %d trials per workflow, seed %d (repeat with %s=%d)\n", trials, seed, soakSeedEnv, seed)
	for _, d := range workflows.All() {
		if !slices.ContainsFunc(soakKinds, func(k soakKind) bool { return k.name == d.Name }) {
			t.Fatalf("the worker registers %s, which the sweep does not run: add it to soakKinds", d.Name)
		}
	}

	began := time.Now()
	s := newSoakSweep(t, seed)
	// The table of the rounds run, even when one stops the sweep.
	defer func() { fmt.Print(s.report(seed, time.Since(began))) }()
	// Every round runs one trial of every type, so there are as many rounds
	// as trials. About one round in five kills the server; a short sweep
	// still kills it once, in its last round.
	serverKills := 0
	for n := 1; n <= trials; n++ {
		killServer := s.rng.IntN(5) == 0 || (n == trials && serverKills == 0)
		if killServer {
			serverKills++
		}
		s.round(n, killServer)
		s.rounds = n
	}
	for _, v := range s.violations {
		t.Error(v)
	}
}

// newSoakSweep starts the platform (its server with a replayed trace for
// ForecastScale, and a separate worker) and the two shared stacks.
func newSoakSweep(t *testing.T, seed uint64) *soakSweep {
	p := newPlatform(t).withOwnKubernetes()
	p.replayTrace = testtier.TraceFile(t, "nyc_taxi.csv")
	workerArgs, workerData := p.startWithSeparateWorker(soakQueue)
	p.waitForPrometheus()
	s := &soakSweep{
		t: t, p: p, rng: rand.New(rand.NewPCG(seed, seed)),
		workerArgs: append(workerArgs, "--prometheus-url", "http://"+p.prometheus, "--chat-webhook-url", p.webhook.url()),
		// Each host boots for a few seconds, as a VM would: an apply long
		// enough for kills to land inside it.
		workerEnv:   []string{"INFRAFLOW_LOCAL_HOST_BOOT_DELAY=3s"},
		workerData:  workerData,
		hostsDir:    filepath.Join(workerData, "pulumi", "hosts", "ssh"),
		typical:     map[string]time.Duration{},
		tally:       map[string]*soakTally{},
		straysFound: map[string]bool{},
	}
	for _, k := range soakKinds {
		s.typical[k.name] = k.typical
		s.tally[k.name] = &soakTally{}
	}
	s.worker = startProcessWithEnv(t, s.workerEnv, workerBin, s.workerArgs...)
	s.c = p.sdkClient()
	s.approvals = &approvals.Client{Temporal: s.c, Namespace: "default"}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig())
	if err != nil {
		t.Fatalf("the platform's kubeconfig: %v", err)
	}
	if s.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatalf("a client of the platform's Kubernetes: %v", err)
	}

	// The shared stacks, and the tool statuses every PlatformCheck must find
	// again, come from runs no kill touches.
	res, status, err := p.provision(t, soakConfigStack, localInput(soakConfigStack, `, "replicas": 1, "hosts": 2`))
	if err != nil || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provisioning %s: %s %+v %v", soakConfigStack, status, res, err)
	}
	s.configHosts = hostsOf(t, res.Outputs)
	if res, status, err := p.provision(t, soakDriftStack, localInput(soakDriftStack, `, "replicas": 1`)); err != nil || res.Status != workflows.ProvisionSucceeded {
		t.Fatalf("provisioning %s: %s %+v %v", soakDriftStack, status, res, err)
	}
	if err := s.startRun("soak-check-baseline", "PlatformCheck", `{}`); err != nil {
		t.Fatal(err)
	}
	var check workflows.PlatformCheckResult
	if err := s.result("soak-check-baseline", &check); err != nil {
		t.Fatalf("the baseline PlatformCheck: %v", err)
	}
	s.baseline = toolStatuses(check)
	return s
}

// round runs one trial of every type, kills the worker or the server at a
// moment chosen so that it lands at a random point of each run, restarts
// it, waits for every run to end and checks the invariants.
func (s *soakSweep) round(n int, killServer bool) {
	t := s.t
	r := &soakRound{n: n, ids: map[string]string{}, started: map[string]chan struct{}{},
		acked: map[string]workflows.DecisionRequest{}, startErrs: map[string]error{}, problems: map[string][]string{}}
	for _, k := range soakKinds {
		if k.prepare != nil {
			k.prepare(s, r)
		}
	}
	// How far into each run the kill lands: uniformly within 120% of the
	// run's usual length, so most kills land mid-run and some after its end.
	into := map[string]time.Duration{}
	var killAfter time.Duration
	for _, k := range soakKinds {
		into[k.name] = time.Duration(s.rng.Float64() * 1.2 * float64(s.typical[k.name]))
		killAfter = max(killAfter, into[k.name]+time.Second)
	}
	restartPause := time.Duration(500+s.rng.IntN(2500)) * time.Millisecond
	r.decisionDelay = time.Duration(s.rng.Float64() * 2 * float64(s.typical["Approval"]))
	for _, k := range soakKinds {
		r.started[k.name] = make(chan struct{})
	}

	ctx, stopDeciding := context.WithCancel(context.Background())
	defer stopDeciding()
	var starts, deciders sync.WaitGroup
	r.begun = time.Now()
	for _, k := range soakKinds {
		id, input := k.input(s, r)
		r.ids[k.name] = id
		starts.Add(1)
		go func() {
			defer starts.Done()
			time.Sleep(time.Until(r.begun.Add(killAfter - into[k.name])))
			if err := s.startRun(id, k.name, input); err != nil {
				r.failStart(k.name, err)
				return
			}
			close(r.started[k.name])
		}()
		if k.decide != nil {
			deciders.Add(1)
			go func() {
				defer deciders.Done()
				k.decide(ctx, s, r, id)
			}()
		}
	}

	time.Sleep(time.Until(r.begun.Add(killAfter)))
	r.killAt = time.Now()
	if killServer {
		r.killed = "server"
		s.p.kill()
		s.p.restartServer()
	} else {
		r.killed = "worker"
		s.worker.kill()
		time.Sleep(restartPause)
		s.worker = startProcessWithEnv(t, s.workerEnv, workerBin, s.workerArgs...)
	}
	restarted := time.Now()
	starts.Wait()

	// Every run ends first; the checks, which take a while, follow.
	deadline := time.Now().Add(soakDeadline)
	ended := map[string]*workflowpb.WorkflowExecutionInfo{}
	for _, k := range soakKinds {
		s.tally[k.name].trials++
		if err := r.startErrs[k.name]; err != nil {
			r.problem(k.name, "never started: %v", err)
			continue
		}
		info, err := s.waitClosed(r.ids[k.name], deadline)
		if err != nil {
			r.problem(k.name, "%v", err)
			continue
		}
		ended[k.name] = info
	}
	endedAfter := time.Since(r.killAt)
	var hit []string
	for _, k := range soakKinds {
		if info := ended[k.name]; info != nil && s.judge(r, k, info) {
			hit = append(hit, k.name)
		}
	}
	s.checkRound(r)
	stopDeciding()
	deciders.Wait()
	fmt.Printf("round %d: %s killed %.1fs in (mid-run: %s), back after %.1fs; every run ended %.1fs after the kill\n",
		n, r.killed, r.killAt.Sub(r.begun).Seconds(), strings.Join(hit, ", "), restarted.Sub(r.killAt).Seconds(), endedAfter.Seconds())

	for _, kind := range append([]string{""}, kindNames()...) {
		for _, v := range r.problems[kind] {
			label := kind
			if label == "" {
				label = "round"
			}
			violation := fmt.Sprintf("round %d (%s killed %.1fs in) %s: %s", n, r.killed, r.killAt.Sub(r.begun).Seconds(), label, v)
			s.violations = append(s.violations, violation)
			// As it is found: a sweep takes an hour.
			fmt.Println("  violation: " + violation)
		}
		if kind != "" && len(r.problems[kind]) > 0 {
			s.tally[kind].violated++
		}
	}
}

func kindNames() []string {
	var names []string
	for _, k := range soakKinds {
		names = append(names, k.name)
	}
	return names
}

// judge counts where the kill landed in a run that has ended, and checks
// the run; it says whether the run was running at the kill.
func (s *soakSweep) judge(r *soakRound, k soakKind, info *workflowpb.WorkflowExecutionInfo) (hit bool) {
	tally := s.tally[k.name]
	start, end := info.GetStartTime().AsTime(), info.GetCloseTime().AsTime()
	hit = start.Before(r.killAt) && end.After(r.killAt)
	switch {
	case hit && r.killed == "server":
		tally.serverKills++
	case hit:
		tally.workerKills++
	default:
		tally.endedBefore++
		// Only the runs no kill hit say how long a run usually takes.
		s.typical[k.name] = (s.typical[k.name] + end.Sub(start)) / 2
	}
	for _, v := range k.check(s, r, r.ids[k.name]) {
		r.problem(k.name, "%s", v)
	}
	return hit
}

// checkRound checks what holds across the round's runs and what they
// started: each workflow ID ran once and completed, and no pulumi or
// ansible-playbook process is left.
func (s *soakSweep) checkRound(r *soakRound) {
	var want []string
	for _, k := range soakKinds {
		want = append(want, r.ids[k.name])
	}
	runs, err := s.runsSince(r.begun, want)
	if err != nil {
		r.problem("", "listing the round's runs: %v", err)
	}
	for id, list := range runs {
		kind := r.kindOf(id)
		var statuses []string
		completed := 0
		for _, run := range list {
			status := strings.TrimPrefix(run.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_")
			statuses = append(statuses, fmt.Sprintf("%s %s", run.GetExecution().GetRunId(), status))
			if run.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				completed++
			}
		}
		if len(list) != 1 || completed != 1 {
			r.problem(kind, "%s: runs %v, want exactly one, completed", id, statuses)
		} else if id == r.ids[kind] {
			s.tally[kind].completedOnce++
		}
	}
	for _, stray := range s.waitForNoStrays(30 * time.Second) {
		// A stray that never ends is one violation, not one per round.
		if !s.straysFound[stray] {
			s.straysFound[stray] = true
			r.problem(r.kindOfProcess(stray), "a stray process outlived the runs: %s", stray)
		}
	}
	// What a killed worker had in its temporary directory (an open Pulumi
	// workspace, a plan, an Ansible inventory) is removed by the next one.
	live := fmt.Sprintf("pid-%d-", s.worker.cmd.Process.Pid)
	for _, dir := range scratchDirsOf(s.t, s.workerData, 0) {
		if !strings.HasPrefix(filepath.Base(dir), live) {
			r.problem("", "the temporary directory of a worker process that is gone is still there: %s", dir)
		}
	}
}

// kindOf is the workflow type whose run started the workflow id: its own
// run, its approval, or DriftCheck's remediation.
func (r *soakRound) kindOf(id string) string {
	for kind, own := range r.ids {
		if id == own {
			return kind
		}
	}
	for kind, own := range r.ids {
		if strings.HasPrefix(id, own+"-") {
			return kind
		}
	}
	if strings.HasPrefix(id, workflows.ProvisionWorkflowID("local", soakDriftStack)) {
		return "DriftCheck"
	}
	return ""
}

// kindOfProcess is the workflow type a stray process worked for, as far as
// its command line tells.
func (r *soakRound) kindOfProcess(cmdline string) string {
	switch {
	case strings.Contains(cmdline, "ansible-playbook"):
		return "ConfigureHosts"
	case strings.Contains(cmdline, "/"+r.provisionStack()+" ") || strings.HasSuffix(cmdline, "/"+r.provisionStack()):
		return "ProvisionStack"
	case strings.Contains(cmdline, "/"+soakDriftStack):
		return "DriftCheck"
	}
	return ""
}

// startRun starts a workflow, retrying while the server restarts. A start
// whose answer was lost with the server is found already started; the
// reuse policy keeps a retry from starting a finished run again.
func (s *soakSweep) startRun(id, kind, input string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: soakQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE}, kind, json.RawMessage(input))
		cancel()
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if err == nil || errors.As(err, &already) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("starting %s %s: %w", kind, id, err)
		}
		time.Sleep(time.Second)
	}
}

// waitClosed waits for the latest run of id to end, through restarts.
func (s *soakSweep) waitClosed(id string, deadline time.Time) (*workflowpb.WorkflowExecutionInfo, error) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := s.c.DescribeWorkflowExecution(ctx, id, "")
		cancel()
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return d.GetWorkflowExecutionInfo(), nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
			return nil, fmt.Errorf("%s still runs %s after the round's kill", id, soakDeadline)
		}
		time.Sleep(time.Second)
	}
}

// closed says whether the latest run of id has ended.
func (s *soakSweep) closed(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := s.c.DescribeWorkflowExecution(ctx, id, "")
	return err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// result reads the result of a run that has ended.
func (s *soakSweep) result(id string, into any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.c.GetWorkflow(ctx, id, "").Get(ctx, into); err != nil {
		return fmt.Errorf("result of %s: %w", id, err)
	}
	return nil
}

// runsSince lists the runs started since a moment, by workflow ID, once the
// visibility store shows every ID of want, ended.
func (s *soakSweep) runsSince(since time.Time, want []string) (map[string][]*workflowpb.WorkflowExecutionInfo, error) {
	query := fmt.Sprintf("StartTime >= '%s'", since.UTC().Format(time.RFC3339Nano))
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := s.list(query)
		caughtUp := err == nil
		for _, id := range want {
			caughtUp = caughtUp && len(runs[id]) > 0
		}
		for _, list := range runs {
			for _, run := range list {
				caughtUp = caughtUp && run.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			}
		}
		if caughtUp || (err == nil && time.Now().After(deadline)) {
			return runs, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(time.Second)
	}
}

func (s *soakSweep) list(query string) (map[string][]*workflowpb.WorkflowExecutionInfo, error) {
	runs := map[string][]*workflowpb.WorkflowExecutionInfo{}
	var token []byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		page, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query, NextPageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", query, err)
		}
		for _, run := range page.GetExecutions() {
			id := run.GetExecution().GetWorkflowId()
			runs[id] = append(runs[id], run)
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			return runs, nil
		}
	}
}

// decideUntilAcknowledged sends the decision until the client is told it was
// accepted: an Update reaches no killed worker or server, and the answer to
// one that was accepted can be lost with the server. It stops when the
// approval has ended without that answer; the approval's check then says
// whether the decision is in its result.
func (s *soakSweep) decideUntilAcknowledged(ctx context.Context, r *soakRound, id string, req workflows.DecisionRequest) {
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := s.approvals.Decide(dctx, id, req)
		cancel()
		if err == nil {
			r.ack(id, req)
			return
		}
		if s.closed(id) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// decideWhenAsked decides the approval a run starts (its workflow ID begins
// with prefix) once it is pending.
func (s *soakSweep) decideWhenAsked(ctx context.Context, r *soakRound, prefix, kind string) {
	query := fmt.Sprintf("WorkflowType = 'Approval' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '%s'", prefix)
	for ctx.Err() == nil {
		if pending, err := s.list(query); err == nil && len(pending) > 0 {
			s.decideUntilAcknowledged(ctx, r, slices.Sorted(maps.Keys(pending))[0], r.decision(kind))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// remediationApprovalPrefix begins the IDs of the approvals DriftCheck's
// remediations of soakDriftStack wait for.
func remediationApprovalPrefix() string {
	return workflows.ProvisionWorkflowID("local", soakDriftStack) + "-approval-"
}

// decisionMissing says how an approval's result lacks the decision: it must
// have closed the approval, recorded once as accepted.
func decisionMissing(st workflows.ApprovalStatus, req workflows.DecisionRequest) string {
	accepted := 0
	for _, a := range st.Audit {
		if a.Outcome == workflows.OutcomeAccepted && a.Approver == req.Approver && a.Reason == req.Reason {
			accepted++
		}
	}
	if st.Status == workflows.ApprovalApproved && st.ClosedBy == req.Approver && accepted == 1 {
		return ""
	}
	return fmt.Sprintf("the approval is %s, closed by %q, with %d accepted decisions of %s %q; want approved by that one decision (audit %+v)",
		st.Status, st.ClosedBy, accepted, req.Approver, req.Reason, st.Audit)
}

// acknowledgement says whether the client was told the decision was accepted.
func acknowledgement(acked map[string]workflows.DecisionRequest) string {
	if len(acked) == 0 {
		return "the decision was sent until the approval ended, never acknowledged; "
	}
	return "the decision was acknowledged as accepted; "
}

func toolStatuses(res workflows.PlatformCheckResult) map[string]string {
	statuses := map[string]string{}
	for _, tool := range res.Tools {
		statuses[tool.Name] = tool.Status
	}
	return statuses
}

func (s *soakSweep) checkPlatformCheck(r *soakRound, id string) []string {
	var res workflows.PlatformCheckResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	got := toolStatuses(res)
	// A check of the server made while it was down truly finds it missing.
	if r.killed == "server" && got[toolchain.TemporalServer] == toolchain.ToolMissing {
		got[toolchain.TemporalServer] = s.baseline[toolchain.TemporalServer]
	}
	if !maps.Equal(got, s.baseline) {
		return []string{fmt.Sprintf("tool statuses %v, want those of the run before any kill: %v", toolStatuses(res), s.baseline)}
	}
	return nil
}

func (s *soakSweep) checkApproval(r *soakRound, id string) []string {
	var st workflows.ApprovalStatus
	if err := s.result(id, &st); err != nil {
		return []string{err.Error()}
	}
	if missing := decisionMissing(st, r.decision("Approval")); missing != "" {
		return []string{acknowledgement(r.ackedWithPrefix(id)) + missing}
	}
	return nil
}

func (s *soakSweep) checkProvision(r *soakRound, id string) []string {
	var res workflows.ProvisionResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if res.Status != workflows.ProvisionSucceeded || res.Verified == nil || !res.Verified.InSync {
		problems = append(problems, fmt.Sprintf("result %s (%s), verified %+v; want succeeded and in sync", res.Status, res.Reason, res.Verified))
	}
	stack := r.provisionStack()
	// The namespace, deployment, service and two hosts; two pods.
	problems = append(problems, s.stateProblems(stack, 5)...)
	problems = append(problems, s.kubeProblems(stack, 2)...)
	if got := s.sshdOf(stack); got != 2 {
		problems = append(problems, fmt.Sprintf("%d sshd processes for the stack's 2 hosts", got))
	}
	return problems
}

func (s *soakSweep) checkDriftCheck(r *soakRound, id string) []string {
	var res workflows.DriftCheckResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	remediation := workflows.ProvisionWorkflowID("local", soakDriftStack)
	if len(res.Drifted) == 0 || res.Remediation != remediation {
		return []string{fmt.Sprintf("found drift %+v and started %q; want the deployment's replicas and the remediation %s", res.Drifted, res.Remediation, remediation)}
	}
	info, err := s.waitClosed(remediation, time.Now().Add(soakDeadline))
	if err != nil {
		return []string{"the remediation: " + err.Error()}
	}
	if info.GetStartTime().AsTime().Before(r.begun) {
		return []string{fmt.Sprintf("the latest run of %s started before the round", remediation)}
	}
	var fixed workflows.ProvisionResult
	if err := s.result(remediation, &fixed); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	switch {
	case fixed.Status != workflows.ProvisionSucceeded || fixed.Approval == nil:
		problems = append(problems, fmt.Sprintf("the remediation ended %s (%s) with approval %+v; want succeeded after the approval", fixed.Status, fixed.Reason, fixed.Approval))
	default:
		if missing := decisionMissing(*fixed.Approval, r.decision("DriftCheck")); missing != "" {
			problems = append(problems, "the remediation's approval: "+acknowledgement(r.ackedWithPrefix(remediationApprovalPrefix()))+missing)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d, err := s.kube.AppsV1().Deployments(soakDriftStack).Get(ctx, "web", metav1.GetOptions{}); err != nil {
		problems = append(problems, fmt.Sprintf("reading %s/web: %v", soakDriftStack, err))
	} else if *d.Spec.Replicas != 1 {
		problems = append(problems, fmt.Sprintf("after the remediation deployment %s/web has %d replicas, want the declared 1", soakDriftStack, *d.Spec.Replicas))
	}
	// The namespace, deployment and service; the pods are still scaling down.
	problems = append(problems, s.stateProblems(soakDriftStack, 3)...)
	problems = append(problems, s.kubeProblems(soakDriftStack, -1)...)
	return problems
}

func (s *soakSweep) checkConfigure(r *soakRound, id string) []string {
	var res workflows.ConfigureResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if res.Status != workflows.ConfigureSucceeded || len(res.Hosts) != len(s.configHosts) {
		problems = append(problems, fmt.Sprintf("result %s (%s) for %d hosts; want succeeded on %d", res.Status, res.Reason, len(res.Hosts), len(s.configHosts)))
	}
	for _, h := range res.Hosts {
		if !h.Verified || len(h.NotIdempotent) > 0 {
			problems = append(problems, fmt.Sprintf("host %+v: want verified and idempotent", h))
		}
	}
	for _, h := range s.configHosts {
		if msg, err := appMessage(h); err != nil || msg != r.appMessage() {
			problems = append(problems, fmt.Sprintf("the app on %s answered %q (%v), want %q", h.Name, msg, err, r.appMessage()))
		}
		if n := countProcesses("app.py --config " + filepath.Dir(h.PrivateKeyPath) + "/"); n != 1 {
			problems = append(problems, fmt.Sprintf("%d app processes on %s, want one", n, h.Name))
		}
	}
	if got := s.sshdOf(soakConfigStack); got != len(s.configHosts) {
		problems = append(problems, fmt.Sprintf("%d sshd processes for %s's %d hosts", got, soakConfigStack, len(s.configHosts)))
	}
	return problems
}

func (s *soakSweep) checkForecastScale(r *soakRound, id string) []string {
	var res workflows.ForecastScaleResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	tick := res.Tick
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deployments := s.kube.AppsV1().Deployments("default")
	d, err := deployments.Get(ctx, r.scaleTarget(), metav1.GetOptions{})
	if err != nil {
		return []string{fmt.Sprintf("reading deployment %s: %v", r.scaleTarget(), err)}
	}
	// The deployments are the sweep's own: a scale applied twice, or applied
	// and then reported otherwise, shows in the generation (one per change).
	var problems []string
	wantGeneration, wantReplicas := int64(1), int32(1)
	if tick.Outcome == workflows.ScaleApplied || tick.Outcome == workflows.ScaleAlreadyApplied {
		wantGeneration, wantReplicas = 2, int32(tick.Decision.Replicas)
	}
	if d.Generation != wantGeneration || *d.Spec.Replicas != wantReplicas {
		problems = append(problems, fmt.Sprintf("tick %s (decided %d replicas: %s): the deployment has %d replicas at generation %d; want %d at generation %d",
			tick.Outcome, tick.Decision.Replicas, tick.Reason, *d.Spec.Replicas, d.Generation, wantReplicas, wantGeneration))
	}
	acked := r.ackedWithPrefix(id + "-approval")
	switch {
	case tick.Approval != nil:
		if missing := decisionMissing(*tick.Approval, r.decision("ForecastScale")); missing != "" {
			problems = append(problems, "the tick's approval: "+acknowledgement(acked)+missing)
		}
	case len(acked) > 0:
		problems = append(problems, fmt.Sprintf("decisions %v were acknowledged, but the tick (%s) carries no approval", acked, tick.Outcome))
	}
	// Its pods would only load the control plane for the rounds to come.
	_ = deployments.Delete(ctx, r.scaleTarget(), metav1.DeleteOptions{})
	return problems
}

// makeDrift scales soakDriftStack's deployment away from the declared one
// replica, for the round's DriftCheck to find.
func (s *soakSweep) makeDrift(_ *soakRound) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deployments := s.kube.AppsV1().Deployments(soakDriftStack)
	scale, err := deployments.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		s.t.Fatalf("reading the scale of %s/web: %v", soakDriftStack, err)
	}
	scale.Spec.Replicas = 3
	if _, err := deployments.UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		s.t.Fatalf("scaling %s/web to make drift: %v", soakDriftStack, err)
	}
}

// stateProblems reads a stack's Pulumi state: no operation left pending,
// and no resource recorded twice.
func (s *soakSweep) stateProblems(stack string, resources int) []string {
	deployment := pulumiExport(s.t, filepath.Join(s.workerData, "pulumi"), stack)
	var problems []string
	if pending, _ := deployment["pending_operations"].([]any); len(pending) > 0 {
		problems = append(problems, fmt.Sprintf("pulumi stack export of %s has pending operations: %v", stack, pending))
	}
	all, _ := deployment["resources"].([]any)
	if got := countOwn(all); got != resources {
		problems = append(problems, fmt.Sprintf("the state of %s holds %d resources, want %d", stack, got, resources))
	}
	return problems
}

// kubeProblems counts a stack's objects in its namespace: one deployment,
// one service and (unless pods < 0) that many live pods.
func (s *soakSweep) kubeProblems(namespace string, pods int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deployments, err := s.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{fmt.Sprintf("listing deployments in %s: %v", namespace, err)}
	}
	services, err := s.kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return []string{fmt.Sprintf("listing services in %s: %v", namespace, err)}
	}
	var problems []string
	if len(deployments.Items) != 1 || len(services.Items) != 1 {
		problems = append(problems, fmt.Sprintf("%d deployments and %d services in namespace %s, want one of each", len(deployments.Items), len(services.Items), namespace))
	}
	if pods < 0 {
		return problems
	}
	list, err := s.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return append(problems, fmt.Sprintf("listing pods in %s: %v", namespace, err))
	}
	live := 0
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil {
			live++
		}
	}
	if live != pods {
		problems = append(problems, fmt.Sprintf("%d pods in namespace %s, want %d", live, namespace, pods))
	}
	return problems
}

// sshdOf counts the sshd processes of a stack's hosts (named
// <stack>-<app>-host-<n>).
func (s *soakSweep) sshdOf(stack string) int {
	return countProcesses("sshd -f " + filepath.Join(s.hostsDir, stack) + "-")
}

// countProcesses counts the processes whose command line matches pattern.
func countProcesses(pattern string) int {
	out, _ := exec.Command("pgrep", "-fc", pattern).Output()
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// appMessage asks the app on a host for its greeting.
func appMessage(h sshHost) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/", h.Address, int(h.AppPort)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer struct{ Host, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return "", fmt.Errorf("%s answered %s: %w", h.Name, resp.Status, err)
	}
	if answer.Host != h.Name {
		return answer.Message, fmt.Errorf("answered as host %q", answer.Host)
	}
	return answer.Message, nil
}

// waitForNoStrays waits for the pulumi and ansible-playbook processes that
// worked for the sweep's worker to end (a pulumi orphaned by a kill may
// still be finishing), and returns those still running after patience.
func (s *soakSweep) waitForNoStrays(patience time.Duration) []string {
	deadline := time.Now().Add(patience)
	for {
		strays := s.strays()
		if len(strays) == 0 || time.Now().After(deadline) {
			return strays
		}
		time.Sleep(time.Second)
	}
}

// strays lists the pulumi (CLI and plugins) and ansible-playbook processes
// whose command line, environment or working directory names the worker's
// data or playbooks: other tests on the machine run their own.
func (s *soakSweep) strays() []string {
	dirs := []string{s.workerData, s.p.playbooks}
	var found []string
	for _, p := range procs.List() {
		if len(p.Args) == 0 {
			continue
		}
		pulumi := strings.HasPrefix(filepath.Base(p.Args[0]), "pulumi")
		ansible := slices.ContainsFunc(p.Args[:min(len(p.Args), 2)], func(a string) bool { return filepath.Base(a) == "ansible-playbook" })
		if !pulumi && !ansible {
			continue
		}
		proc := filepath.Join("/proc", strconv.Itoa(p.PID))
		environ, _ := os.ReadFile(filepath.Join(proc, "environ"))
		cwd, _ := os.Readlink(filepath.Join(proc, "cwd"))
		seen := strings.Join(p.Args, " ") + "\x00" + string(environ) + "\x00" + cwd
		if slices.ContainsFunc(dirs, func(d string) bool { return strings.Contains(seen, d) }) {
			found = append(found, strconv.Itoa(p.PID)+" "+strings.Join(p.Args, " "))
		}
	}
	return found
}

// report is the sweep's table, and the violations under it.
func (s *soakSweep) report(seed uint64, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nkill-point sweep: %d rounds of every workflow, seed %d, %s\n\n", s.rounds, seed, took.Round(time.Second))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "WORKFLOW\tTRIALS\tKILLED MID-RUN: WORKER\tSERVER\tNOT RUNNING AT THE KILL\tCOMPLETED ONCE\tVIOLATIONS")
	for _, k := range soakKinds {
		t := s.tally[k.name]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", k.name, t.trials, t.workerKills, t.serverKills, t.endedBefore, t.completedOnce, t.violated)
	}
	_ = w.Flush()
	if len(s.violations) == 0 {
		b.WriteString("\nno violations\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\n%d violations:\n", len(s.violations))
	for _, v := range s.violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	return b.String()
}

// soakGameDayReplicas is the size of each round's GameDay Deployment.
const soakGameDayReplicas = 4

// readyGameDayTarget creates the round's GameDay Deployment and waits until
// its pods are available.
func (s *soakSweep) readyGameDayTarget(r *soakRound) {
	createDeployment(s.t, s.kube, r.gameDayTarget(), soakGameDayReplicas)
	s.p.waitAvailable(s.t, "default", r.gameDayTarget(), soakGameDayReplicas)
}

// checkGameDay: the hypothesis held, every fault injected was undone, its
// record is gone, the Deployment is whole again and the approval holds the
// decision that was acknowledged.
func (s *soakSweep) checkGameDay(r *soakRound, id string) []string {
	var res workflows.GameDayResult
	if err := s.result(id, &res); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if res.Outcome != workflows.GameDayHeld {
		problems = append(problems, fmt.Sprintf("outcome %s (%s), want held: the controller brings the pods back", res.Outcome, res.Reason))
	}
	for _, f := range res.Faults {
		if f.Injection != nil && f.UndoneAt.IsZero() {
			problems = append(problems, fmt.Sprintf("fault %s was injected (%v) and never undone", f.Name, f.Injection.Targets))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cms, err := s.kube.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); err != nil {
		problems = append(problems, fmt.Sprintf("listing the fault records: %v", err))
	} else {
		for _, cm := range cms.Items {
			// Rounds run one at a time: a record here is this round's.
			if strings.HasPrefix(cm.Name, "infraflow-chaos-") {
				problems = append(problems, "the fault's record is left behind: configmap "+cm.Name)
				_ = s.kube.CoreV1().ConfigMaps("default").Delete(ctx, cm.Name, metav1.DeleteOptions{})
			}
		}
	}
	deployments := s.kube.AppsV1().Deployments("default")
	if d, err := deployments.Get(ctx, r.gameDayTarget(), metav1.GetOptions{}); err != nil || d.Status.AvailableReplicas != soakGameDayReplicas {
		problems = append(problems, fmt.Sprintf("deployment %s after the game day: %v, want %d available", r.gameDayTarget(), err, soakGameDayReplicas))
	}
	acked := r.ackedWithPrefix(id + "-approval-")
	if missing := decisionMissing(res.Approval, r.decision("GameDay")); missing != "" {
		problems = append(problems, "the game day's approval: "+acknowledgement(acked)+missing)
	}
	_ = deployments.Delete(ctx, r.gameDayTarget(), metav1.DeleteOptions{})
	return problems
}
