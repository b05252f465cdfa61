package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseDatabases(t *testing.T) {
	for list, want := range map[string]string{
		"sqlite,postgres":  "sqlite postgres",
		" postgres ":       "postgres",
		"postgres,sqlite,": "postgres sqlite",
	} {
		got, err := parseDatabases(list)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("parseDatabases(%q) = %v, %v; want %s", list, got, err, want)
		}
	}
	for _, bad := range []string{"", "mysql", "sqlite,sqlite"} {
		if got, err := parseDatabases(bad); err == nil {
			t.Errorf("parseDatabases(%q) = %v, want an error", bad, got)
		}
	}
}

// Samples are summed over their labels; comments, histograms' other series
// and malformed lines are skipped.
func TestSumMetrics(t *testing.T) {
	text := `# HELP temporal_sticky_cache_size Sticky cache size
# TYPE temporal_sticky_cache_size gauge
temporal_sticky_cache_size{namespace="default",task_queue="bench",worker_type="WorkflowWorker"} 499
temporal_sticky_cache_size{namespace="default",task_queue="x{y}",worker_type="WorkflowWorker"} 1
go_goroutines 1035
go_memstats_heap_inuse_bytes 5.0331648e+07
broken{ 3
`
	sums, err := sumMetrics(bufio.NewScanner(strings.NewReader(text)))
	if err != nil {
		t.Fatal(err)
	}
	if sums["temporal_sticky_cache_size"] != 500 || sums["go_goroutines"] != 1035 || sums["go_memstats_heap_inuse_bytes"] != 50331648 {
		t.Errorf("sums = %v", sums)
	}
}

// One table, a column per database; a measure one database lacks is a dash,
// and a row no database has is left out.
func TestMarkdownHasAColumnPerDatabase(t *testing.T) {
	pss := 160.0
	r := report{StickyCacheSize: -1, Databases: []*dbReport{
		{Database: sqliteDB, Memory: []memoryResult{{Approvals: 10000, Server: memory{RSSMiB: 500}, Worker: memory{RSSMiB: 230}}}},
		{Database: postgresDB, Version: "15.18", Memory: []memoryResult{{Approvals: 10000, Server: memory{RSSMiB: 590}, Worker: memory{RSSMiB: 231}, PostgresMiB: &pss, PostgresIdleMiB: &pss}}},
	}}
	md := r.markdown()
	for _, want := range []string{
		"| measure | SQLite | PostgreSQL 15.18 |",
		"| 10,000 waiting approvals: worker RSS (idle; peak) | **230 MiB** (0; 0) | **231 MiB** (0; 0) |",
		"| 10,000 waiting approvals: PostgreSQL, PSS of its processes (idle) | — | 160 MiB (160) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "throughput") {
		t.Errorf("a throughput row without any throughput measured:\n%s", md)
	}
}
