// Command provision measures what the ProvisionStack workflow costs over the
// Pulumi engine: the same local stack is brought up (and destroyed) by a raw
// Automation API up, by the workflow's engine steps run back to back (preview
// saving a plan, policy, up held to the plan, verification), and by the
// workflow, in rotation in one run, and the wall times are compared.
//
//	go run ./tests/bench/provision --runs 5 --out .infraflow/bench
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/payloadcodec"
	"github.com/infraflow/infraflow/internal/policy"
	"github.com/infraflow/infraflow/internal/pulumistack"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/workflows"
)

func main() {
	runs := flag.Int("runs", 5, "ups (and destroys) per method")
	out := flag.String("out", ".infraflow/bench", "directory for provision.json and provision.md")
	flag.Parse()
	if err := run(*runs, *out); err != nil {
		log.Fatal(err)
	}
}

type sample struct {
	Method  string  `json:"method"`
	Seconds float64 `json:"seconds"`
}

func run(runs int, outDir string) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "infraflow-bench-provision-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	worker := filepath.Join(tmp, "worker")
	if out, err := exec.Command("go", "build", "-o", worker, "./worker").CombinedOutput(); err != nil {
		return fmt.Errorf("building the worker: %v\n%s", err, out)
	}
	data, frontend := filepath.Join(tmp, "platform"), freeAddr()
	platform := exec.Command(worker, "--dev", "--data-dir", data, "--frontend-address", frontend, "--ui-address", "",
		"--metrics-address", "", "--chat-address", freeAddr(), "--kube-address", freeAddr(), "--codec-address", "", "--moto-address", "", "--task-queue", "bench")
	stdout, _ := platform.StdoutPipe()
	platform.Stderr = io.Discard
	if err := platform.Start(); err != nil {
		return err
	}
	defer func() { _ = platform.Process.Signal(syscall.SIGINT); _ = platform.Wait() }()
	if err := waitFor(stdout, "infraflow worker is running"); err != nil {
		return err
	}
	keyFile := filepath.Join(data, "codec-keys")
	keys, err := payloadcodec.LoadKeyFile(keyFile)
	if err != nil {
		return err
	}
	codec, err := payloadcodec.New(keys, "codec key file "+keyFile)
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: frontend, DataConverter: payloadcodec.DataConverter(codec)})
	if err != nil {
		return err
	}
	defer c.Close()

	raw := pulumistack.Env{StateDir: filepath.Join(tmp, "raw"), Kubeconfig: filepath.Join(data, "kube", "kubeconfig")}
	steps := pulumistack.Env{StateDir: filepath.Join(tmp, "steps"), Kubeconfig: raw.Kubeconfig}
	var samples, stepSamples []sample
	for i := range runs {
		// Rotate the order so no method always runs on a warmer machine.
		methods := []func(int) (time.Duration, error){
			func(i int) (time.Duration, error) { return rawUp(ctx, raw, i) },
			func(i int) (time.Duration, error) { return engineSteps(ctx, steps, i, &stepSamples) },
			func(i int) (time.Duration, error) { return workflowUp(ctx, c, i) },
		}
		names := []string{rawMethod, stepsMethod, workflowMethod}
		for k := range methods {
			m := (k + i) % len(methods)
			d, err := methods[m](i)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", names[m], i, err)
			}
			samples = append(samples, sample{Method: names[m], Seconds: d.Seconds()})
			fmt.Printf("run %d  %-40s %6.2f s\n", i, names[m], d.Seconds())
		}
	}
	return report(samples, stepSamples, outDir)
}

const (
	rawMethod      = "raw Automation API up"
	stepsMethod    = "the workflow's engine steps, back to back"
	workflowMethod = "ProvisionStack workflow"
)

// engineSteps runs the Pulumi and policy calls the workflow's activities make
// for a new stack, in the same order, with nothing between them: preview
// (saving the plan), policy, apply held to the plan, verification. The
// workflow's time beyond this is what orchestration costs.
func engineSteps(ctx context.Context, env pulumistack.Env, i int, into *[]sample) (time.Duration, error) {
	ref := stackop.Ref{Program: "local", Stack: fmt.Sprintf("steps-%d", i)}
	full := config(i, "steps")
	full["app"], full["port"], full["failOnPurpose"] = "web", 80, false
	start := time.Now()
	mark := start
	step := func(name string) {
		*into = append(*into, sample{Method: name, Seconds: time.Since(mark).Seconds()})
		mark = time.Now()
	}
	// PreviewStack
	hold, err := env.Hold(ctx, ref, "bench")
	if err != nil {
		return 0, err
	}
	stack, err := env.Open(ctx, ref, full)
	if err != nil {
		return 0, err
	}
	defer pulumistack.Close(stack)
	if _, _, err := env.Recover(ctx, stack, ref, hold); err != nil {
		return 0, err
	}
	if _, err := env.LastGoodConfig(ctx, ref); err != nil {
		return 0, err
	}
	planFile, err := env.NewPlanFile(ref)
	if err != nil {
		return 0, err
	}
	preview, err := pulumistack.Preview(ctx, stack, planFile)
	if err != nil {
		return 0, err
	}
	saved, err := env.StorePlan(ctx, ref, planFile)
	if err != nil {
		return 0, err
	}
	hold.Release()
	step("preview (saving the plan)")
	// CheckPolicy
	if _, err := policy.Evaluate(ctx, stackop.PolicyInput{Program: ref.Program, Stack: ref.Stack, Operation: stackop.OpUp, Changes: preview.Changes}); err != nil {
		return 0, err
	}
	step("policy")
	// ApplyStack
	pulumistack.Close(stack)
	if hold, err = env.Hold(ctx, ref, "bench"); err != nil {
		return 0, err
	}
	if stack, err = env.Open(ctx, ref, full); err != nil {
		return 0, err
	}
	if _, _, err := env.Recover(ctx, stack, ref, hold); err != nil {
		return 0, err
	}
	plan, err := env.PlanFile(ctx, ref, saved)
	if err != nil {
		return 0, err
	}
	defer os.Remove(plan)
	if _, err := pulumistack.Up(ctx, stack, 0, func(stackop.Progress) {}, plan); err != nil {
		return 0, err
	}
	if _, err := env.ReadState(ctx, ref); err != nil {
		return 0, err
	}
	hold.Release()
	step("up held to the plan")
	// VerifyStack
	pulumistack.Close(stack)
	if hold, err = env.Hold(ctx, ref, "bench"); err != nil {
		return 0, err
	}
	defer hold.Release()
	if stack, err = env.Open(ctx, ref, full); err != nil {
		return 0, err
	}
	if _, err := pulumistack.PreviewRefresh(ctx, stack); err != nil {
		return 0, err
	}
	if _, err := env.ReadState(ctx, ref); err != nil {
		return 0, err
	}
	step("verification (refresh preview)")
	elapsed := time.Since(start)
	return elapsed, pulumistack.Destroy(ctx, stack, 0, func(stackop.Progress) {})
}

func config(i int, prefix string) map[string]any {
	return map[string]any{"namespace": fmt.Sprintf("%s-%d", prefix, i), "image": "nginx:1.27", "replicas": 2, "hosts": 1}
}

// rawUp is the floor: the engine with the same program and config, nothing else.
func rawUp(ctx context.Context, env pulumistack.Env, i int) (time.Duration, error) {
	ref := stackop.Ref{Program: "local", Stack: fmt.Sprintf("raw-%d", i)}
	full := config(i, "raw")
	full["app"], full["port"], full["failOnPurpose"] = "web", 80, false
	start := time.Now()
	stack, err := env.Open(ctx, ref, full)
	if err != nil {
		return 0, err
	}
	defer pulumistack.Close(stack)
	if _, err := pulumistack.Up(ctx, stack, 0, func(stackop.Progress) {}, ""); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	return elapsed, pulumistack.Destroy(ctx, stack, 0, func(stackop.Progress) {})
}

// workflowUp is what a person waits for: start to result, with preview,
// policy, apply and verification.
func workflowUp(ctx context.Context, c client.Client, i int) (time.Duration, error) {
	stack := fmt.Sprintf("wf-%d", i)
	in := workflows.ProvisionInput{Program: "local", Stack: stack, Config: config(i, "wf")}
	id := workflows.ProvisionWorkflowID("local", stack)
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench"}, "ProvisionStack", in)
	if err != nil {
		return 0, err
	}
	var res workflows.ProvisionResult
	if err := run.Get(ctx, &res); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	in.Operation = "destroy"
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench"}, "ProvisionStack", in)
	if err == nil {
		err = run.Get(ctx, &res)
	}
	return elapsed, err
}

type row struct {
	Method     string  `json:"method"`
	Runs       int     `json:"runs"`
	MedianS    float64 `json:"medianSeconds"`
	MinS       float64 `json:"minSeconds"`
	MaxS       float64 `json:"maxSeconds"`
	RatioRaw   float64 `json:"medianRatioToRaw"`
	RatioSteps float64 `json:"medianRatioToEngineSteps"`
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func report(samples, stepSamples []sample, outDir string) error {
	by := map[string][]float64{}
	for _, s := range samples {
		by[s.Method] = append(by[s.Method], s.Seconds)
	}
	var rows []row
	for _, m := range []string{rawMethod, stepsMethod, workflowMethod} {
		v := by[m]
		sort.Float64s(v)
		rows = append(rows, row{Method: m, Runs: len(v), MedianS: median(v), MinS: v[0], MaxS: v[len(v)-1]})
	}
	for i := range rows {
		rows[i].RatioRaw = rows[i].MedianS / rows[0].MedianS
		rows[i].RatioSteps = rows[i].MedianS / rows[1].MedianS
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Provisioning: workflow vs its engine steps vs a raw Automation API up\n\n%s, %d CPUs, %s. Stack: local (namespace, Deployment of 2, Service, 1 SSH host), created by each run and destroyed after it (not timed).\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	md.WriteString("| method | runs | median s | min s | max s | median / engine steps | median / raw up |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r.Method, r.Runs, r.MedianS, r.MinS, r.MaxS, r.RatioSteps, r.RatioRaw)
	}
	// Where the engine steps' time goes; the workflow's time beyond them is
	// orchestration (scheduling, heartbeats, signals, history).
	stepsBy := map[string][]float64{}
	var order []string
	for _, s := range stepSamples {
		if _, ok := stepsBy[s.Method]; !ok {
			order = append(order, s.Method)
		}
		stepsBy[s.Method] = append(stepsBy[s.Method], s.Seconds)
	}
	md.WriteString("\n| engine step | median s |\n|---|---|\n")
	for _, m := range order {
		fmt.Fprintf(&md, "| %s | %.2f |\n", m, median(stepsBy[m]))
	}
	fmt.Fprintf(&md, "| orchestration (workflow − engine steps) | %.2f |\n", rows[2].MedianS-rows[1].MedianS)
	fmt.Print("\n" + md.String())
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(map[string]any{"rows": rows, "samples": samples, "engineSteps": stepSamples}, "", "  ")
	if err := os.WriteFile(filepath.Join(outDir, "provision.json"), raw, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "provision.md"), []byte(md.String()), 0o644)
}

func waitFor(r io.Reader, line string) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), line) {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return nil
		}
	}
	return fmt.Errorf("the platform exited before printing %q", line)
}

func freeAddr() string {
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		log.Fatal(err)
	}
	return addr
}
