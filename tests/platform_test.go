// Package tests holds end-to-end tests: they run the real worker binary with
// its embedded Temporal server and drive it with the real `temporal` CLI.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/payloadcodec"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
)

var (
	workerBin   string // built once by TestMain
	starterBin  string
	temporalBin string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		flag.Parse()
		if testing.Short() {
			fmt.Println("end-to-end tests left out: make test runs them, make test-unit (go test -short) does not")
			return 0
		}
		dir, err := os.MkdirTemp("", "infraflow-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// `make test` has just built both (linking the worker takes about 20 s);
		// a plain `go test` builds its own.
		if built := os.Getenv("INFRAFLOW_TEST_BIN"); built != "" {
			workerBin, starterBin = filepath.Join(built, "infraflow-worker"), filepath.Join(built, "starter")
		} else {
			workerBin, starterBin = filepath.Join(dir, "worker"), filepath.Join(dir, "starter")
			for bin, pkg := range map[string]string{workerBin: "../worker", starterBin: "../starter"} {
				if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
					fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
					return 1
				}
			}
		}
		// Workers outside --dev must be given the passphrase of the stack
		// state; every worker a test starts shares this one.
		os.Setenv("PULUMI_CONFIG_PASSPHRASE", "infraflow end-to-end tests")
		// Tests that start tools themselves (etcd, kube-apiserver) find the
		// pinned builds, as `make test` has them on PATH.
		os.Setenv("PATH", toolsPath())
		if temporalBin, err = findTool("temporal"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for name, r := range releaseTests {
			if willRun(name) {
				// Linking a worker takes a CPU-minute: it starts now, beside
				// the first platforms, not when a release test's turn comes.
				go func() { _, _ = r.build() }()
			}
		}
		defer stopSharedKubernetes()
		return m.Run()
	}())
}

// willRun says whether go test's -run pattern selects a top-level test.
func willRun(name string) bool {
	pattern := flag.Lookup("test.run").Value.String()
	if pattern == "" {
		return true
	}
	top, _, _ := strings.Cut(pattern, "/")
	ok, err := regexp.MatchString(top, name)
	return ok || err != nil
}

// repoRoot is where the worker runs (tests run in tests/).
func repoRoot() string {
	root, _ := filepath.Abs("..")
	return root
}

// toolsPath puts the pinned tools `make tools` links into .infraflow/bin first,
// as `make test` does, so a plain `go test` finds the same programs.
func toolsPath() string {
	bin, _ := filepath.Abs(filepath.Join("..", ".infraflow", "bin"))
	return bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

// findTool prefers the pinned build `make tools` links into .infraflow/bin.
func findTool(name string) (string, error) {
	pinned, _ := filepath.Abs(filepath.Join("..", ".infraflow", "bin", name))
	if _, err := os.Stat(pinned); err == nil {
		return pinned, nil
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("%s not found in .infraflow/bin or on PATH: run `make tools`", name)
}

// platform is one `worker --dev` process: server, UI and worker.
type platform struct {
	t        *testing.T
	dataDir  string
	frontend string
	ui       string
	metrics  string
	chat     string
	// sharedKube says the platform deploys to the shared control plane
	// (sharedKubernetes), the default; kube is the address of a control
	// plane of its own instead (withOwnKubernetes); neither, no Kubernetes.
	sharedKube bool
	kube       string
	codec      string // the codec endpoint's host:port
	// prometheus is the host:port of the Prometheus the platform runs.
	prometheus string
	// toxiproxy is the host:port of the platform's toxiproxy API ("" leaves
	// it out, as most tests need none).
	toxiproxy string
	// moto is the host:port of the platform's moto server (AWS APIs in
	// memory); empty, the default, leaves it out (withMoto adds it).
	moto string
	// replayTrace, when set, is a trace the platform replays as metrics
	// (--replay-trace), served on replay for Prometheus to scrape.
	replayTrace, replay string
	// keyFile holds the payload encryption keys (worker --dev makes it on
	// first start unless a test passes --codec-keys in extraArgs).
	keyFile   string
	taskQueue string
	// webhook receives the platform's chat notices.
	webhook *webhookReceiver
	// playbooks is the worker's playbooks directory: the repository's
	// playbooks and the test playbooks.
	playbooks string
	extraArgs []string
	// recording says the histories are saved when the test ends.
	recording bool
	*process
	// sdk is dialed on the first query (a copy of the platform shares it).
	sdk *sdkClient
	// slot is held from the first start (a copy shares it).
	slot *slotHold
}

type sdkClient struct {
	once sync.Once
	c    client.Client
}

// stopHostsUnder ends the sshd processes (and apps) of SSH hosts provisioned under dir:
// hosts outlive the provider by design (as machines do), so a test cleans up
// what its stacks left running.
func stopHostsUnder(t *testing.T, dir string) {
	t.Cleanup(func() {
		_ = exec.Command("pkill", "-f", "sshd -f "+dir).Run()
		// The apps the playbooks started on those hosts.
		_ = exec.Command("pkill", "-f", "app.py --config "+dir).Run()
	})
}

// The end-to-end tests run side by side, but each platform is a Temporal
// server, a worker and usually a control plane: more of them at once than the
// machine has room for makes every one too slow to start. Room is counted in
// units, two per core: a platform with its control plane takes two, one
// without (approvals, chat, codec, hostile input) one. A test holds its units
// from its platform's first start to its end, and a start slot while its
// platform starts. Four full platforms on 2 cores drove the load to 30, and a
// crash test's deadline passed before its playbook got halfway.
var (
	platformUnits = newRoom(2 * runtime.NumCPU())
	startSlots    = make(chan struct{}, 1)
)

// slotHold says whether a platform (and its copies) holds its units.
type slotHold struct{ once sync.Once }

// takeSlot waits for the platform's units, once.
func (p *platform) takeSlot() {
	units := 2
	if !p.usesKubernetes() {
		units = 1
	}
	p.takeUnits(units)
}

// takeUnits waits for units of room for p.t, once per slot.
func (p *platform) takeUnits(units int) {
	p.slot.once.Do(func() {
		queued := time.Now()
		platformUnits.acquire(units, roomPriority(p.t.Name()))
		// tests/report takes this line off the test's time: queuing is not the test's cost.
		p.t.Logf("platform slot: waited %.1fs", time.Since(queued).Seconds())
		p.t.Cleanup(func() { platformUnits.release(units) })
	})
}

// newPlatform picks free ports and a data dir; start launches it.
func newPlatform(t *testing.T) *platform {
	t.Helper()
	dataDir := t.TempDir()
	stopHostsUnder(t, dataDir)
	// The control plane's own logs say why a Deployment never became ready
	// or a namespace never went away; the worker's log does not.
	t.Cleanup(func() {
		if t.Failed() {
			logControlPlaneTails(t, filepath.Join(dataDir, "kube", "logs"))
			if sharedControlPlane.kube != nil {
				logControlPlaneTails(t, sharedControlPlaneLogs())
			}
		}
	})
	return &platform{
		t:          t,
		dataDir:    dataDir,
		frontend:   freeAddr(t),
		ui:         freeAddr(t),
		metrics:    freeAddr(t),
		chat:       freeAddr(t),
		sharedKube: true,
		codec:      freeAddr(t),
		prometheus: freeAddr(t),
		replay:     freeAddr(t),
		keyFile:    filepath.Join(dataDir, "codec-keys"),
		webhook:    newWebhookReceiver(t),
		playbooks:  playbooksCopy(t),
		taskQueue:  "e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")),
		sdk:        &sdkClient{},
		slot:       &slotHold{},
	}
}

// logControlPlaneTails logs the end of each control-plane program's log.
func logControlPlaneTails(t *testing.T, dir string) {
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "kube-apiserver", "etcd"} {
		data, err := os.ReadFile(filepath.Join(dir, name+".log"))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		t.Logf("last lines of %s.log:\n%s", name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

// withToxiproxy runs a toxiproxy server in the platform, as `make dev` does:
// game days' network faults go through it.
func (p *platform) withToxiproxy() *platform {
	p.toxiproxy = freeAddr(p.t)
	return p
}

// withMoto runs a moto server in the platform, as `make dev` does: the
// worker's Auto Scaling targets use it.
func (p *platform) withMoto() *platform {
	p.moto = freeAddr(p.t)
	return p
}

// withoutKubernetes leaves the local control plane (etcd, kube-apiserver and
// three more processes) out of a platform whose test provisions nothing: they
// cost CPU the tests running beside it need.
func (p *platform) withoutKubernetes() *platform {
	p.sharedKube, p.kube = false, ""
	return p
}

// playbooksCopy builds a playbooks directory of the repository's playbooks
// and the test playbooks (tests/testdata/playbooks). It copies rather than
// links: a symlink leading out of the playbooks directory is refused.
func playbooksCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, src := range []string{filepath.Join(repoRoot(), "playbooks") + "/.", filepath.Join(repoRoot(), "tests", "testdata", "playbooks") + "/."} {
		if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
			t.Fatalf("copying playbooks: %v\n%s", err, out)
		}
	}
	return dir
}

// startWithSeparateWorker starts the platform with no worker polling queue,
// and returns the arguments for worker processes that do (with their own
// data dir), for tests that kill and restart the worker alone.
func (p *platform) startWithSeparateWorker(queue string) (workerArgs []string, workerData string) {
	p.t.Helper()
	p.taskQueue = serverOnlyQueue
	p.start()
	p.taskQueue = queue
	workerData = p.t.TempDir()
	stopHostsUnder(p.t, workerData)
	return []string{"--address", p.frontend, "--task-queue", queue, "--metrics-address", "", "--codec-keys", p.keyFile,
		"--data-dir", workerData, "--kubeconfig", p.kubeconfig(),
		"--playbooks-dir", p.playbooks, "--directory", p.sharedDirectory()}, workerData
}

// serverOnlyQueue is the queue a platform's own worker polls when the
// workflows run on separate worker processes: nothing is started on it.
const serverOnlyQueue = "server-only"

// restartServer starts a platform with separate workers again after p.kill,
// on the same data dir (the server's SQLite database, etcd, the keys) and
// ports, so the workers and clients that outlived it reconnect.
func (p *platform) restartServer() {
	p.t.Helper()
	queue := p.taskQueue
	p.taskQueue = serverOnlyQueue
	defer func() { p.taskQueue = queue }()
	// The killed platform's children die by Pdeathsig, a moment after the
	// platform itself was reaped: their ports are free only once they are gone.
	for _, addr := range p.addresses() {
		waitPortFree(p.t, *addr)
	}
	p.start()
}

// addresses are the platform's listen addresses ("" for a part left out).
func (p *platform) addresses() []*string {
	return []*string{&p.frontend, &p.ui, &p.metrics, &p.chat, &p.kube, &p.codec, &p.prometheus, &p.replay, &p.moto, &p.toxiproxy}
}

// waitPortFree waits until addr (empty: nothing) can be bound.
func waitPortFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for addr != "" {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			_ = l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still in use a minute after the platform was killed: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sharedDirectory writes the directory the --dev platform uses (the built-in
// example, with its chat server enrolled as a relay) for workers of the same
// deployment: every worker must judge approvals by the same directory.
func (p *platform) sharedDirectory() string {
	p.t.Helper()
	relay, err := keyfile.Load(filepath.Join(p.dataDir, "chat-relay-key"))
	if err != nil {
		p.t.Fatalf("the --dev platform's chat relay key: %v", err)
	}
	dir := directory.Example().WithRelay("chatops-dev", signing.AuthorizedKey(keyfile.Public(relay), "chatops-dev"))
	raw, err := json.Marshal(dir)
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.t.TempDir(), "directory.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}

func (p *platform) start() {
	p.t.Helper()
	// A relative data dir, as `make dev` uses (.infraflow): paths derived from
	// it must work from other directories too.
	relData, err := filepath.Rel(repoRoot(), p.dataDir)
	if err != nil {
		p.t.Fatal(err)
	}
	p.takeSlot()
	startSlots <- struct{}{}
	defer func() { <-startSlots }()
	for attempt := 1; ; attempt++ {
		args := p.extraArgs
		if p.replayTrace != "" {
			args = append([]string{"--replay-trace", p.replayTrace, "--replay-tick", "1s", "--replay-address", p.replay}, args...)
		}
		proc, err := tryStartProcess(p.t, nil, workerBin, append([]string{"--dev",
			"--data-dir", relData,
			"--frontend-address", p.frontend,
			"--ui-address", p.ui,
			"--metrics-address", p.metrics,
			"--chat-address", p.chat,
			"--codec-address", p.codec,
			"--prometheus-address", p.prometheus,
			"--moto-address", p.moto,
			"--toxiproxy-address", p.toxiproxy,
			"--chat-webhook-url", p.webhook.url(),
			"--playbooks-dir", p.playbooks,
			"--task-queue", p.taskQueue}, append(p.kubeArgs(), args...)...)...)
		// A free port picked for a first start can be taken before the platform
		// binds it (tests run side by side): pick new ones and start again.
		if err != nil && p.process == nil && attempt < 3 && strings.Contains(err.Error(), "already in use") {
			p.t.Logf("start %d: a port was taken meanwhile; picking new ports", attempt)
			for _, addr := range p.addresses() {
				if *addr != "" {
					*addr = freeAddr(p.t)
				}
			}
			continue
		}
		if err != nil {
			p.t.Fatal(err)
		}
		p.process = proc
		p.recordHistoriesAtCleanup()
		return
	}
}

// process is a running worker binary (with or without --dev).
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan error
}

// startProcess runs the worker binary and waits until it says it is running.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return startProcessWithEnv(t, nil, bin, args...)
}

// startProcessWithEnv is startProcess with more environment variables.
func startProcessWithEnv(t *testing.T, env []string, bin string, args ...string) *process {
	t.Helper()
	p, err := tryStartProcess(t, env, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryStartProcess is startProcess, reporting a process that exits before it
// is ready (with its output) as an error.
func tryStartProcess(t *testing.T, env []string, bin string, args ...string) (*process, error) {
	t.Helper()
	p := &process{t: t, log: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = ".."
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// The developer's own TEMPORAL_* settings must not leak into the platform.
	p.cmd.Env = append(withoutTemporalEnv(), "INFRAFLOW_SLACK_SIGNING_SECRET="+signingSecret, "PATH="+toolsPath())
	p.cmd.Env = append(p.cmd.Env, env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.log)
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	// The banner's last line: its lines reach the pipe one by one, and tests
	// read the whole banner once the process is ready.
	for !strings.Contains(p.log.String(), "Ctrl-C stops the worker") {
		select {
		case err := <-p.exited:
			return nil, fmt.Errorf("%s exited before it was ready: %v\n%s", bin, err, p.log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not ready after 2 minutes:\n%s", bin, p.log)
		}
	}
	return p, nil
}

// kill is SIGKILL: no shutdown code runs, as in a crash.
func (p *process) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
}

// temporal runs the real CLI against this platform and returns stdout. It
// encodes and decodes payloads through the platform's codec endpoint, as a
// person holding the keys would; temporalRaw sees what the server stores.
func (p *platform) temporal(args ...string) (string, error) {
	return p.temporalRaw(append(args, "--codec-endpoint", "http://"+p.codec)...)
}

// temporalRaw runs the CLI without the codec: payloads as stored.
func (p *platform) temporalRaw(args ...string) (string, error) {
	// Long enough for `workflow result` of a provisioning with configuration
	// while other end-to-end tests share the machine.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, temporalBin, append(args, "--address", p.frontend, "--namespace", "default")...)
	cmd.Env = withoutTemporalEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("temporal %s: %w\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func (p *platform) mustTemporal(args ...string) string {
	p.t.Helper()
	out, err := p.temporal(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// starter runs the operator CLI against this platform.
func (p *platform) starter(args ...string) (stdout, stderr string, err error) {
	// `--wait` follows a workflow to its end: a destroy on a loaded machine
	// (tests side by side) has taken longer than 2 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, starterBin, append(args, "--address", p.frontend, "--task-queue", p.taskQueue, "--ui-url", "http://"+p.ui)...)
	cmd.Env = append(withoutTemporalEnv(), "INFRAFLOW_CODEC_KEY_FILE="+p.keyFile)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// workflowList returns the IDs and statuses `temporal workflow list` shows.
func (p *platform) workflowList() map[string]string {
	p.t.Helper()
	out := p.mustTemporal("workflow", "list", "-o", "json")
	var rows []struct {
		Execution struct {
			WorkflowID string `json:"workflowId"`
		} `json:"execution"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		p.t.Fatalf("temporal workflow list -o json: %v\n%s", err, out)
	}
	byID := map[string]string{}
	for _, r := range rows {
		byID[r.Execution.WorkflowID] = r.Status
	}
	return byID
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func withoutTemporalEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	return env
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// query asks a workflow's query handler through the SDK. Tests poll progress
// several times a second, and a CLI process per poll costs more CPU than the
// platform it watches.
func (p *platform) query(id, name string, into any) bool {
	c := p.sdkClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c == nil {
		return false
	}
	v, err := c.QueryWorkflow(ctx, id, "", name)
	return err == nil && v.Get(into) == nil
}

// sdkClient is the platform's SDK client, dialed once and shared (with the
// platform's codec): it reconnects by itself when the server restarts. It is
// nil when dialing failed in another goroutine (the test has failed then).
func (p *platform) sdkClient() client.Client {
	p.sdk.once.Do(func() {
		c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", DataConverter: p.dataConverter(p.t),
			Logger: quietLogger()})
		if err != nil {
			p.t.Fatalf("SDK client for queries: %v", err)
		}
		p.sdk.c = c
		p.t.Cleanup(c.Close)
	})
	return p.sdk.c
}

// quietLogger keeps the SDK's connection chatter out of test output.
func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// dataConverter encrypts and decrypts with the platform's keys, for tests
// that use the SDK client directly.
func (p *platform) dataConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	codec, err := p.payloadCodec()
	if err != nil {
		t.Fatal(err)
	}
	return payloadcodec.DataConverter(codec)
}

// payloadCodec is the codec of the platform's key file.
func (p *platform) payloadCodec() (*payloadcodec.Codec, error) {
	keys, err := payloadcodec.LoadKeyFile(p.keyFile)
	if err != nil {
		return nil, err
	}
	return payloadcodec.New(keys, "codec key file "+p.keyFile)
}
