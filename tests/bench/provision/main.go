// Command provision measures what the ProvisionStack workflow costs over the
// Pulumi engine alone: the same local stack is brought up (and destroyed) by a
// raw Automation API call and by the workflow, alternately in one run, and
// the wall times are compared.
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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/payloadcodec"
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
		"--metrics-address", "", "--chat-address", freeAddr(), "--kube-address", freeAddr(), "--codec-address", "", "--task-queue", "bench")
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
	var samples []sample
	for i := range runs {
		// Alternate the order so neither method always runs on a warmer machine.
		methods := []func(int) (time.Duration, error){
			func(i int) (time.Duration, error) { return rawUp(ctx, raw, i) },
			func(i int) (time.Duration, error) { return workflowUp(ctx, c, i) },
		}
		names := []string{"raw Automation API up", "ProvisionStack workflow"}
		if i%2 == 1 {
			methods[0], methods[1] = methods[1], methods[0]
			names[0], names[1] = names[1], names[0]
		}
		for m, up := range methods {
			d, err := up(i)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", names[m], i, err)
			}
			samples = append(samples, sample{Method: names[m], Seconds: d.Seconds()})
			fmt.Printf("run %d  %-24s %6.2f s\n", i, names[m], d.Seconds())
		}
	}
	return report(samples, outDir)
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
	Method   string  `json:"method"`
	Runs     int     `json:"runs"`
	MedianS  float64 `json:"medianSeconds"`
	MinS     float64 `json:"minSeconds"`
	MaxS     float64 `json:"maxSeconds"`
	RatioRaw float64 `json:"medianRatioToRaw"`
}

func report(samples []sample, outDir string) error {
	by := map[string][]float64{}
	for _, s := range samples {
		by[s.Method] = append(by[s.Method], s.Seconds)
	}
	var rows []row
	for _, m := range []string{"raw Automation API up", "ProvisionStack workflow"} {
		v := by[m]
		sort.Float64s(v)
		rows = append(rows, row{Method: m, Runs: len(v), MedianS: v[len(v)/2], MinS: v[0], MaxS: v[len(v)-1]})
	}
	for i := range rows {
		rows[i].RatioRaw = rows[i].MedianS / rows[0].MedianS
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Provisioning: workflow vs raw Automation API up\n\n%s, %d CPUs, %s. Stack: local (namespace, Deployment of 2, Service, 1 SSH host); each up is followed by a destroy (not timed).\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	md.WriteString("| method | runs | median s | min s | max s | median / raw |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", r.Method, r.Runs, r.MedianS, r.MinS, r.MaxS, r.RatioRaw)
	}
	fmt.Print("\n" + md.String())
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(map[string]any{"rows": rows, "samples": samples}, "", "  ")
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
