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
	Machine    machine           `json:"machine"`
	Throughput *throughputResult `json:"throughput,omitempty"`
	Latency    *latencyResult    `json:"latency,omitempty"`
	Memory     []memoryResult    `json:"memory,omitempty"`
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

func (r report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Engine benchmark\n\n")
	fmt.Fprintf(&b, "%s · %d CPUs (%s) · %s RAM · Linux %s · %s · Temporal server %s (embedded, SQLite) · Go SDK %s\n\n",
		m.Date, m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, m.ServerVersion, m.SDKVersion)
	b.WriteString("Server: `worker --dev` polling an unused task queue. Worker: one `worker --address` process on the `bench` task queue, default options.\n")

	if t := r.Throughput; t != nil {
		fmt.Fprintf(&b, "\n## Throughput: start to completion, %d concurrent starters\n\n", t.Starters)
		b.WriteString("| workflow | runs | wall (s) | workflows/s | p50 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|---:|---:|---:|\n")
		s := t.StartToCompletion
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", t.Workflow, t.Runs, t.WallSeconds, t.PerSecond, s.P50Ms, s.P99Ms, s.MaxMs)
	}

	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "\n## Approval decision to resume: %d waiting approvals decided one at a time\n\n", l.Approvals)
		b.WriteString("| measure | n | p50 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|---:|\n")
		for _, row := range []struct {
			name string
			s    stats
		}{
			{"Update `decide` sent → result returned", l.UpdateRoundTrip},
			{"Update `decide` sent → workflow completed", l.UpdateToCompletion},
			{"Signal `decision` sent → workflow completed", l.SignalToCompletion},
		} {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f |\n", row.name, row.s.N, row.s.P50Ms, row.s.P99Ms, row.s.MaxMs)
		}
	}

	if len(r.Memory) > 0 {
		fmt.Fprintf(&b, "\n## Memory holding N waiting approvals (RSS, MiB; fresh processes per N; filled in waves of %d, %d concurrent starts)\n\n",
			r.Memory[0].Wave, r.Memory[0].Starters)
		b.WriteString("| N | fill (s) | approvals/s | server idle | server | server peak | worker idle | worker | worker peak | KiB/approval server | KiB/approval worker |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, mr := range r.Memory {
			fmt.Fprintf(&b, "| %d | %.0f | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f |\n",
				mr.Approvals, mr.FillSeconds, mr.FillPerSecond,
				mr.ServerIdle.RSSMiB, mr.Server.RSSMiB, mr.Server.PeakMiB,
				mr.WorkerIdle.RSSMiB, mr.Worker.RSSMiB, mr.Worker.PeakMiB,
				mr.ServerKiBPerApproval, mr.WorkerKiBPerApproval)
		}
	}
	return b.String()
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
