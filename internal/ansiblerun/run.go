package ansiblerun

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apenella/go-ansible/v2/pkg/execute"
	"github.com/apenella/go-ansible/v2/pkg/execute/configuration"
	goexec "github.com/apenella/go-ansible/v2/pkg/execute/exec"
	"github.com/apenella/go-ansible/v2/pkg/execute/result"
	"github.com/apenella/go-ansible/v2/pkg/execute/stdoutcallback"
	ansibleplaybook "github.com/apenella/go-ansible/v2/pkg/playbook"

	"github.com/infraflow/infraflow/internal/playbook"
)

// VerifyTag marks the tasks that check a host works (e.g. the app answers).
const VerifyTag = "verify"

// Run is one ansible-playbook invocation.
type Run struct {
	// Playbook is the playbook's path on the worker (see ResolvePlaybook).
	Playbook  string
	Hosts     []playbook.Host
	Limit     []string
	Mode      playbook.Mode
	ExtraVars map[string]any
	Secrets   Secrets
	// OnEvent, when set, sees every task start and host result as it happens.
	OnEvent func(playbook.Event)
}

// workDirPrefix names the directory of a run's inventory and secrets, which
// its command line names: StopOrphanedForks knows infraflow's runs by it.
const workDirPrefix = "infraflow-ansible-"

// Execute runs the playbook through go-ansible with the ansible.posix.jsonl
// stdout callback and collects per-host results from its events. Host
// failures and unreachable hosts are results, not errors; an error means the
// run itself did not happen or did not finish.
func Execute(ctx context.Context, run Run) (playbook.Report, error) {
	work, err := os.MkdirTemp("", workDirPrefix)
	if err != nil {
		return playbook.Report{}, err
	}
	defer os.RemoveAll(work)
	inventory := filepath.Join(work, "inventory.json")
	if err := WriteInventory(inventory, run.Hosts); err != nil {
		return playbook.Report{}, fmt.Errorf("writing inventory: %w", err)
	}
	varsFile, vaultFile, err := run.Secrets.write(work)
	if err != nil {
		return playbook.Report{}, fmt.Errorf("writing secrets for ansible-playbook: %w", err)
	}
	opts := &ansibleplaybook.AnsiblePlaybookOptions{
		Inventory:         inventory,
		Limit:             strings.Join(run.Limit, ","),
		ExtraVars:         run.ExtraVars,
		VaultPasswordFile: vaultFile,
		Check:             run.Mode == playbook.Check,
		Diff:              run.Mode == playbook.Check,
	}
	if varsFile != "" {
		opts.ExtraVarsFile = []string{"@" + varsFile}
	}
	if run.Mode == playbook.Verify {
		opts.Tags = VerifyTag
	}
	collector := newCollector(run)
	stderr := &tail{max: 64 << 10}
	exe := execute.NewDefaultExecute(
		execute.WithCmd(ansibleplaybook.NewAnsiblePlaybookCmd(ansibleplaybook.WithPlaybooks(run.Playbook), ansibleplaybook.WithPlaybookOptions(opts))),
		// ansible.cfg next to the playbook applies, as it does for a person
		// running ansible-playbook in that directory.
		execute.WithCmdRunDir(filepath.Dir(run.Playbook)),
		execute.WithExecutable(processGroup{}),
		execute.WithWrite(io.Discard),
		execute.WithWriteError(stderr),
		// go-ansible's own jsonl printer refuses stderr's plain-text warnings,
		// so events go to infraflow's collector and stderr to a tail buffer.
		execute.WithOutput(output{collector, stderr}),
	)
	err = configuration.NewAnsibleWithConfigurationSettingsExecute(exe,
		configuration.WithAnsibleStdoutCallback(stdoutcallback.AnsiblePosixJsonlStdoutCallback),
		configuration.WithNoColor(),
	).Execute(ctx)
	report, finished := collector.report()
	if ctx.Err() != nil {
		return report, ctx.Err()
	}
	if finished {
		// ansible-playbook exits non-zero when a host failed or was
		// unreachable; the report says which, and that is the result.
		return report, nil
	}
	msg := strings.TrimSpace(lastLines(stderr.String(), 15))
	if err != nil && msg == "" {
		msg = err.Error()
	}
	return report, fmt.Errorf("ansible-playbook did not finish: %s", run.Secrets.Redact(msg))
}

type output struct {
	collector *collector
	stderr    *tail
}

// Print is called once for stdout and once for stderr.
func (o output) Print(ctx context.Context, reader io.Reader, writer io.Writer, _ ...result.OptionsFunc) error {
	if writer == io.Writer(o.stderr) {
		_, err := io.Copy(o.stderr, reader)
		return err
	}
	scanner := bufio.NewScanner(reader)
	scanner.Buffer(make([]byte, 64<<10), 64<<20)
	for scanner.Scan() {
		o.collector.add(scanner.Bytes())
	}
	return scanner.Err()
}

// processGroup starts ansible-playbook in its own process group, stops the
// whole group (forks and ssh included) on cancellation, and makes the kernel
// kill it if the worker dies: a retried run never races an orphan.
type processGroup struct{}

func (p processGroup) Command(name string, arg ...string) goexec.Cmder {
	return p.CommandContext(context.Background(), name, arg...)
}

func (processGroup) CommandContext(ctx context.Context, name string, arg ...string) goexec.Cmder {
	cmd := exec.CommandContext(ctx, name, arg...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		go func(pgid int) {
			time.Sleep(5 * time.Second)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}(cmd.Process.Pid)
		return err
	}
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// event is the part of an ansible.posix.jsonl line infraflow reads.
type event struct {
	Event string `json:"_event"`
	Task  *struct {
		Name string `json:"name"`
	} `json:"task"`
	Hosts map[string]json.RawMessage `json:"hosts"`
	Stats map[string]struct {
		OK          int `json:"ok"`
		Changed     int `json:"changed"`
		Failures    int `json:"failures"`
		Unreachable int `json:"unreachable"`
		Skipped     int `json:"skipped"`
	} `json:"stats"`
}

// taskResult is a module result, or one loop item's.
type taskResult struct {
	Changed    bool         `json:"changed"`
	Msg        any          `json:"msg"`
	Stderr     any          `json:"stderr"`
	Path       string       `json:"path"`
	Dest       string       `json:"dest"`
	Results    []taskResult `json:"results"`
	Invocation struct {
		ModuleArgs map[string]any `json:"module_args"`
	} `json:"invocation"`
	Diff json.RawMessage `json:"diff"`
}

type collector struct {
	mu       sync.Mutex
	run      Run
	roots    map[string]string
	hosts    map[string]*playbook.HostResult
	tasks    int
	task     string
	finished bool
}

func newCollector(run Run) *collector {
	c := &collector{run: run, roots: map[string]string{}, hosts: map[string]*playbook.HostResult{}}
	for _, h := range run.Hosts {
		c.roots[h.Name] = strings.TrimRight(h.Root, "/")
	}
	return c
}

func (c *collector) add(line []byte) {
	var e event
	if json.Unmarshal(line, &e) != nil {
		return
	}
	c.mu.Lock()
	var notify []playbook.Event
	switch e.Event {
	case "v2_playbook_on_task_start", "v2_playbook_on_handler_task_start":
		c.tasks++
		if e.Task != nil {
			c.task = e.Task.Name
		}
		notify = append(notify, playbook.Event{Task: c.task, TasksStarted: c.tasks})
	case "v2_runner_on_ok", "v2_runner_on_failed", "v2_runner_on_unreachable", "v2_runner_on_skipped":
		for _, name := range sortedKeys(e.Hosts) {
			status := strings.TrimPrefix(e.Event, "v2_runner_on_")
			var r taskResult
			_ = json.Unmarshal(e.Hosts[name], &r)
			h := c.host(name)
			task := c.task
			if e.Task != nil {
				task = e.Task.Name
			}
			switch {
			case status == "ok" && r.Changed:
				status = "changed"
				h.ChangedTasks = appendOnce(h.ChangedTasks, task)
				for _, p := range r.paths() {
					h.ChangedPaths = appendOnce(h.ChangedPaths, c.onHost(name, p))
				}
			case status == "failed" || status == "unreachable":
				h.FailedTask = task
				h.Message = c.run.Secrets.Redact(r.message())
			}
			notify = append(notify, playbook.Event{Task: task, Host: name, Status: status, TasksStarted: c.tasks})
		}
	case "v2_playbook_on_stats":
		for name, s := range e.Stats {
			h := c.host(name)
			h.OK, h.Changed, h.Failed, h.Unreachable, h.Skipped = s.OK, s.Changed, s.Failures, s.Unreachable, s.Skipped
		}
		c.finished = true
	}
	c.mu.Unlock()
	if c.run.OnEvent != nil {
		for _, ev := range notify {
			c.run.OnEvent(ev)
		}
	}
}

func (c *collector) host(name string) *playbook.HostResult {
	h, ok := c.hosts[name]
	if !ok {
		h = &playbook.HostResult{Host: name}
		c.hosts[name] = h
	}
	return h
}

// onHost turns a path on this computer into the path on the host.
func (c *collector) onHost(host, path string) string {
	if root := c.roots[host]; root != "" {
		if rest, ok := strings.CutPrefix(path, root); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				return "/"
			}
			return rest
		}
	}
	return path
}

func (c *collector) report() (playbook.Report, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := playbook.Report{Mode: c.run.Mode, Tasks: c.tasks}
	for _, name := range sortedKeys(c.hosts) {
		h := *c.hosts[name]
		switch {
		case h.Unreachable > 0:
			h.Status = playbook.StatusUnreachable
		case h.Failed > 0:
			h.Status = playbook.StatusFailed
		case h.Changed > 0:
			h.Status = playbook.StatusChanged
		default:
			h.Status = playbook.StatusOK
		}
		sort.Strings(h.ChangedPaths)
		r.Hosts = append(r.Hosts, h)
	}
	return r, c.finished
}

// paths lists what a changed result touched.
func (r taskResult) paths() []string {
	var out []string
	if len(r.Results) > 0 {
		for _, item := range r.Results {
			if item.Changed {
				out = append(out, item.paths()...)
			}
		}
		return out
	}
	for _, p := range []any{r.Dest, r.Path, r.Invocation.ModuleArgs["dest"], r.Invocation.ModuleArgs["path"]} {
		if s, ok := p.(string); ok && strings.HasPrefix(s, "/") {
			return []string{s}
		}
	}
	return nil
}

func (r taskResult) message() string {
	for _, m := range []any{r.Msg, r.Stderr} {
		if s, ok := m.(string); ok && s != "" {
			if len(s) > 500 {
				s = s[:500] + "..."
			}
			return s
		}
	}
	return ""
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
