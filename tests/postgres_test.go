package tests

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/workflows"
)

// TestTemporalOnPostgreSQLSurvivesServerSIGKILL runs the platform's embedded
// Temporal server on a private PostgreSQL (persistence and visibility), runs
// workflows there, finds them by infraflow's search attributes, SIGKILLs the
// process holding the server while approvals wait, and starts it again on the
// same database: the approvals take their decisions and their timers fire.
func TestTemporalOnPostgreSQLSurvivesServerSIGKILL(t *testing.T) {
	t.Parallel()
	startCtx, cancelStart := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelStart()
	pg, err := localenv.StartPostgres(startCtx, localenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(pg.Dir, "logs", "postgres.log")); err == nil {
				t.Logf("postgres.log:\n%s", log)
			}
		}
	})
	p := newPlatform(t).withoutKubernetes()
	p.extraArgs = []string{"--temporal-db", pg.URL("temporal")}
	started := time.Now()
	p.start()
	t.Logf("worker --dev on PostgreSQL ready in %s (first start: databases and schemas made; includes any wait for platform room)", time.Since(started).Round(time.Millisecond))
	// The test's own deadline starts once it has its platform: under make
	// test it may first queue for room longer than the deadline itself.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if want := "Temporal DB: PostgreSQL postgres://temporal@" + pg.Addr + "/temporal (visibility: temporal_visibility)"; !strings.Contains(p.log.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, p.log)
	}

	p.mustTemporal("workflow", "execute", "--type", "PlatformCheck", "--task-queue", p.taskQueue,
		"--workflow-id", "check-on-postgres", "--input", `{"tools": ["temporal-server"]}`)
	p.startApproval("survives-crash", `{"title": "rotate keys", "requester": "dave", "approvers": ["alice", "bob"], "quorum": 2}`)
	// Nobody answers this one: its expiry timer is due while the server is down.
	p.startApproval("expires-after-crash", `{"title": "resize disk", "requester": "dave", "approvers": ["alice"], "expiry": "15s"}`)
	if out, err := p.temporal("workflow", "update", "execute", "--workflow-id", "survives-crash", "--name", "decide",
		"--input", `{"approver": "alice", "decision": "approve", "reason": "keys are old", "via": "temporal-cli"}`); err != nil || !strings.Contains(out, "pending") {
		t.Fatalf("alice's decision before the crash: %v\n%s", err, out)
	}
	// Visibility on PostgreSQL answers queries on infraflow's search attributes.
	p.waitListed(`InfraflowKind = 'PlatformCheck'`, "check-on-postgres")
	p.waitListed(`InfraflowKind = 'Approval' AND InfraflowApprovalState = 'pending'`, "survives-crash", "expires-after-crash")
	// ...and it is PostgreSQL that holds them.
	if n := pgQuery(ctx, t, pg, "temporal_visibility", "SELECT count(*) FROM executions_visibility WHERE workflow_id IN ('check-on-postgres', 'survives-crash', 'expires-after-crash')"); n != "3" {
		t.Errorf("executions_visibility has %s of the 3 runs", n)
	}
	if n := pgQuery(ctx, t, pg, "temporal", "SELECT count(*) FROM current_executions WHERE workflow_id IN ('check-on-postgres', 'survives-crash', 'expires-after-crash')"); n != "3" {
		t.Errorf("current_executions has %s of the 3 runs", n)
	}

	// A second embedded server on the same database would take every shard
	// from the first: it is refused, naming the way to join instead.
	second := exec.CommandContext(ctx, workerBin, "--dev", "--temporal-db", pg.URL("temporal"), "--data-dir", t.TempDir(),
		"--frontend-address", freeAddr(t), "--ui-address", "", "--kube-address", "", "--metrics-address", "", "--codec-address", "",
		"--chat-address", freeAddr(t), "--prometheus-address", "", "--moto-address", "", "--toxiproxy-address", "")
	second.Env = withoutTemporalEnv()
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "another embedded Temporal server (worker --dev) is running on postgres://temporal@"+pg.Addr+"/temporal") ||
		!strings.Contains(string(out), "with --address instead of --dev") {
		t.Errorf("a second worker --dev on the same database: %v, want it refused:\n%s", err, out)
	}

	p.kill()
	killed := time.Now()
	p.start()
	t.Logf("worker --dev on PostgreSQL ready again %s after SIGKILL (schemas already up to date)", time.Since(killed).Round(time.Millisecond))

	p.mustTemporal("workflow", "signal", "--workflow-id", "survives-crash", "--name", "decision",
		"--input", `{"approver": "bob", "decision": "approve", "reason": "agreed", "via": "temporal-cli"}`)
	if st := p.approvalResult("survives-crash"); st.Status != workflows.ApprovalApproved || strings.Join(st.Approvals, ",") != "alice,bob" {
		t.Errorf("survives-crash = %+v, want approved by alice (before the crash) and bob (after)", st)
	}
	if st := p.approvalResult("expires-after-crash"); st.Status != workflows.ApprovalExpired {
		t.Errorf("expires-after-crash = %+v, want expired by its timer", st)
	}
	p.waitListed(`InfraflowApprovalState = 'approved'`, "survives-crash")
	p.waitListed(`InfraflowApprovalState = 'expired'`, "expires-after-crash")
	if list := p.workflowList(); list["check-on-postgres"] != "WORKFLOW_EXECUTION_STATUS_COMPLETED" {
		t.Errorf("after the restart, check-on-postgres is %q, want completed", list["check-on-postgres"])
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, "temporal.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a SQLite temporal.db is in the data dir (%v): the server should keep nothing there", err)
	}
}

// waitListed waits until `temporal workflow list --query` lists every id:
// visibility records are written a moment after the workflow changes.
func (p *platform) waitListed(query string, ids ...string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := p.mustTemporal("workflow", "list", "--query", query)
		missing := []string{}
		for _, id := range ids {
			if !strings.Contains(out, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("workflow list --query %q lacks %v after 30s:\n%s", query, missing, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func pgQuery(ctx context.Context, t *testing.T, pg *localenv.Postgres, db, sql string) string {
	t.Helper()
	out, err := pg.Query(ctx, db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTemporalDBMistakesAreNamed: a wrong --temporal-db stops the worker at
// once with the flag, the problem and the fix; nothing is started.
func TestTemporalDBMistakesAreNamed(t *testing.T) {
	t.Parallel()
	nobody := freeAddr(t) // nothing listens there
	cases := []struct {
		args []string
		env  string // INFRAFLOW_TEMPORAL_DB
		want []string
	}{
		{[]string{"--dev", "--temporal-db", "mysql://temporal@127.0.0.1:3306/temporal"}, "",
			[]string{`--temporal-db (INFRAFLOW_TEMPORAL_DB): scheme "mysql" is not supported; want postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`, "or leave it empty for SQLite"}},
		{[]string{"--dev"}, "postgres://127.0.0.1:5432",
			[]string{"--temporal-db (INFRAFLOW_TEMPORAL_DB): no DATABASE, no user; want postgres://"}},
		{[]string{"--temporal-db", "postgres://temporal@127.0.0.1:5432/temporal", "--address", "127.0.0.1:7233"}, "",
			[]string{"--temporal-db (INFRAFLOW_TEMPORAL_DB) chooses the database of --dev's embedded server: add --dev"}},
		{[]string{"--dev", "--temporal-db", "postgres://temporal@" + nobody + "/temporal", "--frontend-address", freeAddr(t),
			"--ui-address", "", "--kube-address", "", "--metrics-address", "", "--codec-address", "", "--chat-address", freeAddr(t),
			"--prometheus-address", "", "--moto-address", "", "--toxiproxy-address", ""}, "",
			[]string{`PostgreSQL database "temporal" on ` + nobody + `: connecting as "temporal"`, "is PostgreSQL running there"}},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, workerBin, append(c.args, "--data-dir", t.TempDir())...)
		cmd.Env = append(withoutTemporalEnv(), "INFRAFLOW_TEMPORAL_DB="+c.env)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("worker %v succeeded, want it refused:\n%s", c.args, out)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(string(out), want) {
				t.Errorf("worker %v output lacks %q:\n%s", c.args, want, out)
			}
		}
	}
}
