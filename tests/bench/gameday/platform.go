package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/tests/bench/internal/benchenv"
)

const (
	namespace = benchenv.Namespace
	// gameDayQueue is polled by the separate worker only: the platform's own
	// worker polls idleQueue, which nothing uses, so killing the separate
	// worker leaves no one to run the game day until it is back.
	gameDayQueue = "bench-gameday"
	idleQueue    = "bench-gameday-server-only"
	proxyName    = "app"
)

// binaries are the programs the benchmark runs: the ones `make build` and
// `make tools` put in .infraflow/bin, or fresh builds of this checkout.
type binaries struct {
	worker, starter, toxiproxyCLI string
	// toolsDir is put first on the processes' PATH by the worker (--tools-dir).
	toolsDir string
}

func findBinaries(binDir, tmp string) (binaries, error) {
	toolsDir, err := filepath.Abs(filepath.Join(".infraflow", "bin"))
	if err != nil {
		return binaries{}, err
	}
	b := binaries{toolsDir: toolsDir}
	if binDir != "" {
		b.worker, b.starter = filepath.Join(binDir, "infraflow-worker"), filepath.Join(binDir, "starter")
		for _, bin := range []string{b.worker, b.starter} {
			if _, err := os.Stat(bin); err != nil {
				return b, fmt.Errorf("%s: %w (run `make build`, or leave out --bin to build here)", bin, err)
			}
		}
	} else {
		b.worker, b.starter = filepath.Join(tmp, "worker"), filepath.Join(tmp, "starter")
		for bin, pkg := range map[string]string{b.worker: "./worker", b.starter: "./starter"} {
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				return b, fmt.Errorf("go build %s (run from the repository root): %v\n%s", pkg, err, out)
			}
		}
	}
	if b.toxiproxyCLI = filepath.Join(toolsDir, "toxiproxy-cli"); !isFile(b.toxiproxyCLI) {
		if b.toxiproxyCLI, err = exec.LookPath("toxiproxy-cli"); err != nil {
			return b, fmt.Errorf("toxiproxy-cli is neither in %s nor on PATH: run `make tools`", toolsDir)
		}
	}
	return b, nil
}

func isFile(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir()
}

// bench is the platform under test and what the benchmark drives it with.
type bench struct {
	bin       binaries
	dir       string
	frontend  string
	toxiproxy string // host:port of toxiproxy's API
	keyFile   string
	env       []string

	platform   *benchenv.Process
	worker     *benchenv.Process
	workerArgs []string
	client     client.Client
	chat       *chatReceiver
	target     *http.Server
	// proxied is the address of the toxiproxy proxy in front of the target:
	// what the game days' probes measure.
	proxied string
}

// startBench starts the platform (`worker --dev`: server, toxiproxy, chat),
// the separate worker that runs the game days, the HTTP target and the proxy.
func startBench(ctx context.Context, bin binaries, dir string) (b *bench, err error) {
	b = &bench{bin: bin, dir: dir, env: benchenv.Isolated(dir), chat: newChatReceiver()}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.stop())
		}
	}()
	addrs := make([]string, 5)
	for i := range addrs {
		if addrs[i], err = freeport.Addr("127.0.0.1"); err != nil {
			return b, err
		}
	}
	b.frontend, b.toxiproxy = addrs[0], addrs[1]
	platformDir := filepath.Join(dir, "platform")
	b.keyFile = filepath.Join(platformDir, "codec-keys")
	b.platform, err = benchenv.Start(ctx, benchenv.Command{Name: "platform", Bin: bin.worker, Env: b.env, Args: []string{
		"--dev", "--data-dir", platformDir, "--tools-dir", bin.toolsDir,
		"--frontend-address", b.frontend, "--toxiproxy-address", b.toxiproxy,
		// Free ports, not the defaults a `make dev` beside the benchmark holds.
		"--chat-address", addrs[2], "--prometheus-address", addrs[3],
		"--ui-address", "", "--metrics-address", "", "--codec-address", "",
		// A game day on a proxy needs neither a control plane nor AWS.
		"--kube-address", "", "--moto-address", "",
		"--chat-webhook-url", b.chat.url(), "--task-queue", idleQueue}})
	if err != nil {
		return b, err
	}
	if err := b.checkToxiproxy(); err != nil {
		return b, err
	}
	dirFile, err := benchenv.DevDirectory(platformDir, dir)
	if err != nil {
		return b, err
	}
	b.workerArgs = []string{"--address", b.frontend, "--task-queue", gameDayQueue, "--tools-dir", bin.toolsDir,
		"--toxiproxy-url", "http://" + b.toxiproxy, "--codec-keys", b.keyFile, "--data-dir", filepath.Join(dir, "worker"),
		"--metrics-address", "", "--directory", dirFile, "--chat-webhook-url", b.chat.url()}
	if err := b.startWorker(ctx); err != nil {
		return b, err
	}
	// The SDK logs every reconnect while the worker is down; the sweep's
	// table says what happened.
	if b.client, err = benchenv.Dial(b.frontend, b.keyFile, slog.LevelError); err != nil {
		return b, err
	}
	target, err := startTarget(addrs[4])
	if err != nil {
		return b, err
	}
	b.target = target
	if b.proxied, err = b.createProxy(addrs[4]); err != nil {
		return b, err
	}
	return b, nil
}

func (b *bench) startWorker(ctx context.Context) error {
	w, err := benchenv.Start(ctx, benchenv.Command{Name: "worker", Bin: b.bin.worker, Args: b.workerArgs, Env: b.env})
	if err != nil {
		return err
	}
	b.worker = w
	return nil
}

// stop interrupts the worker before the platform, as an operator would.
func (b *bench) stop() error {
	if b.client != nil {
		b.client.Close()
	}
	if b.target != nil {
		_ = b.target.Close()
	}
	b.chat.close()
	var errs []error
	for _, p := range []*benchenv.Process{b.worker, b.platform} {
		if p != nil {
			errs = append(errs, p.Interrupt())
		}
	}
	return errors.Join(errs...)
}

// startTarget serves what the game days put latency in front of: a quick
// HTTP answer.
func startTarget(addr string) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the HTTP target on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}

// createProxy makes the proxy "app" in front of upstream with the real
// toxiproxy-cli, as a person setting up a game day would.
func (b *bench) createProxy(upstream string) (string, error) {
	listen, err := freeport.Addr("127.0.0.1")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(b.bin.toxiproxyCLI, "-h", "http://"+b.toxiproxy, "create", "-l", listen, "-u", upstream, proxyName).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("toxiproxy-cli create %s: %v\n%s", proxyName, err, out)
	}
	return listen, nil
}

// checkToxiproxy fails early when the platform has no toxiproxy: --dev only
// notes a missing toxiproxy-server in its banner.
func (b *bench) checkToxiproxy() error {
	resp, err := http.Get("http://" + b.toxiproxy + "/version")
	if err != nil {
		return fmt.Errorf("the platform's toxiproxy does not answer at %s (is toxiproxy-server installed? `make tools`): %v\n%s", b.toxiproxy, err, b.platform.Output())
	}
	resp.Body.Close()
	return nil
}

// toxics lists every toxic on every proxy, as toxiproxy's API reports them.
func (b *bench) toxics() ([]string, error) {
	resp, err := http.Get("http://" + b.toxiproxy + "/proxies")
	if err != nil {
		return nil, fmt.Errorf("listing toxiproxy's proxies: %w", err)
	}
	defer resp.Body.Close()
	var proxies map[string]struct {
		Toxics []struct {
			Name string `json:"name"`
		} `json:"toxics"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&proxies); err != nil {
		return nil, fmt.Errorf("toxiproxy's proxy list: %w", err)
	}
	var names []string
	for proxy, p := range proxies {
		for _, t := range p.Toxics {
			names = append(names, proxy+"/"+t.Name)
		}
	}
	return names, nil
}

// removeToxic takes a toxic a game day left behind off its proxy, after it
// has been counted, so the runs after it measure a healthy proxy.
func (b *bench) removeToxic(proxyAndName string) error {
	proxy, name, _ := strings.Cut(proxyAndName, "/")
	out, err := exec.Command(b.bin.toxiproxyCLI, "-h", "http://"+b.toxiproxy, "toxic", "remove", "-n", name, proxy).CombinedOutput()
	if err != nil {
		return fmt.Errorf("toxiproxy-cli toxic remove %s: %v\n%s", proxyAndName, err, out)
	}
	return nil
}

// pendingApproval waits for the game day's approval child to be pending and
// returns its workflow ID, found as an operator finds it: by a visibility
// query.
func (b *bench) pendingApproval(ctx context.Context, gameDayID string) (string, error) {
	query := fmt.Sprintf("InfraflowApprovalState='pending' AND WorkflowId STARTS_WITH '%s-approval-'", gameDayID)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := b.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err == nil && len(resp.Executions) == 1 {
			return resp.Executions[0].Execution.WorkflowId, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no pending approval for %s after 2 minutes (visibility query %q; last error %v)", gameDayID, query, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// approve decides the approval with the real starter binary as alice (an
// sre), exactly as an operator at a terminal would.
func (b *bench) approve(ctx context.Context, approvalID string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin.starter, "approve", approvalID, "--as", "alice", "--reason", "bench game day window",
		"--address", b.frontend, "--task-queue", gameDayQueue)
	cmd.Env = append(b.env, "INFRAFLOW_CODEC_KEY_FILE="+b.keyFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("starter approve %s: %v\nstdout: %s\nstderr: %s", approvalID, err, out, stderr.String())
	}
	return nil
}

// executions lists every run of a workflow ID with its status and close
// time, as visibility records them.
func (b *bench) executions(ctx context.Context, id string) ([]execution, error) {
	resp, err := b.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	if err != nil {
		return nil, fmt.Errorf("listing the runs of %s: %w", id, err)
	}
	var out []execution
	for _, e := range resp.Executions {
		x := execution{RunID: e.Execution.RunId, Status: e.Status}
		if e.CloseTime != nil {
			x.ClosedAt = e.CloseTime.AsTime()
		}
		out = append(out, x)
	}
	return out, nil
}

type execution struct {
	RunID    string
	Status   enumspb.WorkflowExecutionStatus
	ClosedAt time.Time
}

// chatReceiver is the chat webhook the platform and worker post to.
type chatReceiver struct {
	server *httptest.Server
	mu     sync.Mutex
	texts  []string
}

func newChatReceiver() *chatReceiver {
	c := &chatReceiver{}
	c.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var post struct {
			Text string `json:"text"`
		}
		_ = json.NewDecoder(r.Body).Decode(&post)
		c.mu.Lock()
		c.texts = append(c.texts, post.Text)
		c.mu.Unlock()
	}))
	return c
}

func (c *chatReceiver) url() string { return c.server.URL }
func (c *chatReceiver) close()      { c.server.Close() }

// posts returns how many posts came, and how many of them contain want.
func (c *chatReceiver) posts(want string) (all, matching int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.texts {
		if strings.Contains(t, want) {
			matching++
		}
	}
	return len(c.texts), matching
}
