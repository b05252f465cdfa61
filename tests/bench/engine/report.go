package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

type report struct {
	Machine machine `json:"machine"`
	// StickyCacheSize is what the measured worker was given; -1: its default.
	StickyCacheSize int         `json:"stickyCacheSizeFlag"`
	Databases       []*dbReport `json:"databases"`
}

// dbReport is every measure with the server on one database.
type dbReport struct {
	Database string `json:"database"` // sqlite or postgres
	// Version and Settings are PostgreSQL's.
	Version    string            `json:"version,omitempty"`
	Settings   string            `json:"settings,omitempty"`
	Provision  *throughputResult `json:"provisionThroughput,omitempty"`
	Throughput *throughputResult `json:"throughput,omitempty"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	Memory     []memoryResult    `json:"memory,omitempty"`
}

func (d *dbReport) label() string {
	if d.Database == sqliteDB {
		return "SQLite"
	}
	if d.Version != "" {
		return "PostgreSQL " + d.Version
	}
	return "PostgreSQL"
}

func (d *dbReport) memoryAt(n int) *memoryResult {
	for i := range d.Memory {
		if d.Memory[i].Approvals == n {
			return &d.Memory[i]
		}
	}
	return nil
}

func (r report) measured() bool {
	for _, d := range r.Databases {
		if d.Provision != nil || d.Throughput != nil || d.Latency != nil || len(d.Memory) > 0 {
			return true
		}
	}
	return false
}

type machine struct {
	Date          string `json:"date"`
	CPUs          int    `json:"nproc"`
	CPUModel      string `json:"cpuModel,omitempty"`
	MemTotal      string `json:"memTotal,omitempty"`
	Kernel        string `json:"kernel,omitempty"`
	GoVersion     string `json:"goVersion"`
	ServerVersion string `json:"temporalServerVersion,omitempty"`
	SDKVersion    string `json:"temporalSDKVersion"`
}

func machineInfo() machine {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return machine{
		Date:       time.Now().UTC().Format(time.RFC3339),
		CPUs:       runtime.NumCPU(),
		CPUModel:   procField("/proc/cpuinfo", "model name"),
		MemTotal:   gibFromKB(procField("/proc/meminfo", "MemTotal")),
		Kernel:     strings.TrimSpace(string(kernel)),
		GoVersion:  runtime.Version(),
		SDKVersion: temporal.SDKVersion,
	}
}

func serverVersion(ctx context.Context, c client.Client) (string, error) {
	info, err := c.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("asking the server for its version: %w", err)
	}
	return "v" + strings.TrimPrefix(info.GetServerVersion(), "v"), nil
}

// procField is the first "key: value" line of a /proc file; machine facts are
// context for the figures, so a missing one is left blank.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// gibFromKB turns /proc/meminfo's "24684092 kB" into "23.5 GiB".
func gibFromKB(field string) string {
	kb, err := strconv.ParseFloat(strings.TrimSuffix(field, " kB"), 64)
	if err != nil {
		return field
	}
	return fmt.Sprintf("%.1f GiB", kb/(1<<20))
}

// stats are in milliseconds; percentiles are nearest-rank, so every figure is
// a latency that was actually observed.
type stats struct {
	N     int     `json:"n"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	sorted := slices.Sorted(slices.Values(ds))
	rank := func(p float64) float64 {
		i := int(math.Ceil(float64(len(sorted))*p)) - 1
		return ms(sorted[max(0, i)])
	}
	return stats{N: len(sorted), P50Ms: rank(0.50), P99Ms: rank(0.99), MaxMs: ms(sorted[len(sorted)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// markdown is one table, a column per database: the same measure side by
// side on each row.
func (r report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Engine benchmark\n\n")
	fmt.Fprintf(&b, "%s · %d CPUs (%s) · %s RAM · Linux %s · %s · Temporal server %s (embedded) · Go SDK %s\n\n",
		m.Date, m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, m.ServerVersion, m.SDKVersion)
	cache := "its default"
	if r.StickyCacheSize >= 0 {
		cache = fmt.Sprintf("--sticky-cache-size %d", r.StickyCacheSize)
	}
	fmt.Fprintf(&b, "Server: `worker --dev` (SQLite in its data dir, or `--temporal-db` on a private PostgreSQL cluster) polling an unused task queue. "+
		"Worker: one `worker --address` process on the `bench` task queue, sticky cache %s. Fresh database and processes per phase; phases alternate between databases.\n", cache)
	for _, d := range r.Databases {
		if d.Settings != "" {
			fmt.Fprintf(&b, "%s: %s.\n", d.label(), d.Settings)
		}
	}

	b.WriteString("\n| measure |")
	for _, d := range r.Databases {
		fmt.Fprintf(&b, " %s |", d.label())
	}
	b.WriteString("\n|---|")
	for range r.Databases {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(name string, cell func(d *dbReport) string) {
		cells := make([]string, len(r.Databases))
		seen := false
		for i, d := range r.Databases {
			if cells[i] = cell(d); cells[i] != "" {
				seen = true
			} else {
				cells[i] = "—"
			}
		}
		if seen {
			fmt.Fprintf(&b, "| %s | %s |\n", name, strings.Join(cells, " | "))
		}
	}

	throughput := func(t *throughputResult) string {
		if t == nil {
			return ""
		}
		s := t.StartToCompletion
		return fmt.Sprintf("%.1f/s · p50 %s, p99 %s", t.PerSecond, msText(s.P50Ms), msText(s.P99Ms))
	}
	if t := firstOf(r.Databases, func(d *dbReport) *throughputResult { return d.Provision }); t != nil {
		row(fmt.Sprintf("throughput: no-op ProvisionStack (%d runs, %d starters), workflows/s · start→completion", t.Runs, t.Starters),
			func(d *dbReport) string { return throughput(d.Provision) })
	}
	if t := firstOf(r.Databases, func(d *dbReport) *throughputResult { return d.Throughput }); t != nil {
		row(fmt.Sprintf("throughput: PlatformCheck (%d runs, %d starters), workflows/s · start→completion", t.Runs, t.Starters),
			func(d *dbReport) string { return throughput(d.Throughput) })
	}
	latency := func(pick func(l *latencyResult) stats) func(d *dbReport) string {
		return func(d *dbReport) string {
			if d.Latency == nil {
				return ""
			}
			s := pick(d.Latency)
			return fmt.Sprintf("p50 %s, p99 %s", msText(s.P50Ms), msText(s.P99Ms))
		}
	}
	if l := firstOf(r.Databases, func(d *dbReport) *latencyResult { return d.Latency }); l != nil {
		row(fmt.Sprintf("Update `decide` sent → result returned (%d decisions)", l.UpdateRoundTrip.N), latency(func(l *latencyResult) stats { return l.UpdateRoundTrip }))
		row(fmt.Sprintf("Update `decide` sent → workflow completed (%d)", l.UpdateToCompletion.N), latency(func(l *latencyResult) stats { return l.UpdateToCompletion }))
		row(fmt.Sprintf("Signal `decision` sent → workflow completed (%d)", l.SignalToCompletion.N), latency(func(l *latencyResult) stats { return l.SignalToCompletion }))
	}

	for _, n := range r.memoryNs() {
		at := func(cell func(mr *memoryResult) string) func(d *dbReport) string {
			return func(d *dbReport) string {
				if mr := d.memoryAt(n); mr != nil {
					return cell(mr)
				}
				return ""
			}
		}
		head := fmt.Sprintf("%s waiting approvals:", count(n))
		row(head+" filled at", at(func(mr *memoryResult) string {
			return fmt.Sprintf("%.1f approvals/s (%.0f s)", mr.FillPerSecond, mr.FillSeconds)
		}))
		row(head+" server RSS (idle; peak)", at(func(mr *memoryResult) string {
			return fmt.Sprintf("**%.0f MiB** (%.0f; %.0f)", mr.Server.RSSMiB, mr.ServerIdle.RSSMiB, mr.Server.PeakMiB)
		}))
		row(head+" PostgreSQL, PSS of its processes (idle)", at(func(mr *memoryResult) string {
			if mr.PostgresMiB == nil || mr.PostgresIdleMiB == nil {
				return ""
			}
			return fmt.Sprintf("%.0f MiB (%.0f)", *mr.PostgresMiB, *mr.PostgresIdleMiB)
		}))
		row(head+" worker RSS (idle; peak)", at(func(mr *memoryResult) string {
			return fmt.Sprintf("**%.0f MiB** (%.0f; %.0f)", mr.Worker.RSSMiB, mr.WorkerIdle.RSSMiB, mr.Worker.PeakMiB)
		}))
		row(head+" worker RSS: anonymous (Go heap, stacks) · file (the binary's pages)", at(func(mr *memoryResult) string {
			return fmt.Sprintf("%.0f · %.0f MiB", mr.Worker.AnonMiB, mr.Worker.FileMiB)
		}))
		row(head+" RSS added per approval, server · worker", at(func(mr *memoryResult) string {
			return fmt.Sprintf("%.1f · %.1f KiB", mr.ServerKiBPerApproval, mr.WorkerKiBPerApproval)
		}))
		row(head+" worker RSS added per workflow in its sticky cache", at(func(mr *memoryResult) string {
			w := mr.WorkerInside
			if w == nil || w.CachedWorkflows < 1 {
				return ""
			}
			return fmt.Sprintf("%.1f KiB", (mr.Worker.RSSMiB-mr.WorkerIdle.RSSMiB)*1024/w.CachedWorkflows)
		}))
		row(head+" worker: cached workflows · goroutines · Go heap in use · stacks", at(func(mr *memoryResult) string {
			w := mr.WorkerInside
			if w == nil {
				return ""
			}
			return fmt.Sprintf("%.0f · %.0f · %.0f MiB · %.0f MiB", w.CachedWorkflows, w.Goroutines, w.HeapInuseMiB, w.StackInuseMiB)
		}))
		row(head+" Update → result, newest · oldest approvals (p50; max)", at(func(mr *memoryResult) string {
			p := mr.Probe
			if p == nil {
				return ""
			}
			return fmt.Sprintf("%s; %s · %s; %s (%d each)", msText(p.Newest.P50Ms), msText(p.Newest.MaxMs), msText(p.Oldest.P50Ms), msText(p.Oldest.MaxMs), p.Newest.N)
		}))
	}
	return b.String()
}

// firstOf is the first database's measure that is there, for the row's
// name (run counts are the same on every database).
func firstOf[T any](dbs []*dbReport, pick func(d *dbReport) *T) *T {
	for _, d := range dbs {
		if t := pick(d); t != nil {
			return t
		}
	}
	return nil
}

// memoryNs are the counts of approvals measured on any database, in order.
func (r report) memoryNs() []int {
	var ns []int
	for _, d := range r.Databases {
		for _, mr := range d.Memory {
			if !slices.Contains(ns, mr.Approvals) {
				ns = append(ns, mr.Approvals)
			}
		}
	}
	slices.Sort(ns)
	return ns
}

// msText shows a latency in ms, or in s from 10 s up.
func msText(ms float64) string {
	switch {
	case ms >= 10000:
		return fmt.Sprintf("%.1f s", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.1f ms", ms)
	}
}

// count writes 10000 as 10,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (r report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating output dir: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding engine.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "engine.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing engine.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "engine.md"), []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("writing engine.md: %w", err)
	}
	return nil
}
