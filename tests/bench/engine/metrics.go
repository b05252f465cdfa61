package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// workerInside is what the measured worker reports of itself on its
// Prometheus endpoint: how much of its RSS is the Go heap, and what holds it.
type workerInside struct {
	// CachedWorkflows is the SDK's sticky cache gauge: workflows held in
	// memory between their tasks.
	CachedWorkflows float64 `json:"cachedWorkflows"`
	Goroutines      float64 `json:"goroutines"`
	// HeapInuseMiB is the Go heap's spans in use (live objects and the
	// garbage not yet collected); HeapReleased what the runtime gave back.
	HeapInuseMiB float64 `json:"heapInuseMiB"`
	// StackInuseMiB is goroutine stacks: each cached workflow's coroutines
	// are goroutines parked between its tasks.
	StackInuseMiB float64 `json:"stackInuseMiB"`
	// GoSysMiB is everything the Go runtime got from the OS.
	GoSysMiB float64 `json:"goSysMiB"`
}

// readWorkerInside scrapes the worker's /metrics once.
func readWorkerInside(ctx context.Context, url string) (workerInside, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return workerInside{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return workerInside{}, fmt.Errorf("reading the worker's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return workerInside{}, fmt.Errorf("reading the worker's metrics: %s", resp.Status)
	}
	sums, err := sumMetrics(bufio.NewScanner(resp.Body))
	if err != nil {
		return workerInside{}, err
	}
	const mib = 1 << 20
	return workerInside{
		CachedWorkflows: sums["temporal_sticky_cache_size"],
		Goroutines:      sums["go_goroutines"],
		HeapInuseMiB:    sums["go_memstats_heap_inuse_bytes"] / mib,
		StackInuseMiB:   sums["go_memstats_stack_inuse_bytes"] / mib,
		GoSysMiB:        sums["go_memstats_sys_bytes"] / mib,
	}, nil
}

// sumMetrics reads the Prometheus text format: each metric's samples summed
// over their labels.
func sumMetrics(sc *bufio.Scanner) (map[string]float64, error) {
	sums := map[string]float64{}
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sums[name] += v
	}
	return sums, sc.Err()
}
