package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/procs"
)

// The databases the embedded server can keep its data in.
const (
	sqliteDB   = "sqlite"
	postgresDB = "postgres"
)

func parseDatabases(list string) ([]string, error) {
	var dbs []string
	for _, field := range strings.Split(list, ",") {
		switch field = strings.TrimSpace(field); field {
		case "":
		case sqliteDB, postgresDB:
			for _, seen := range dbs {
				if seen == field {
					return nil, fmt.Errorf("--databases: %s given twice", field)
				}
			}
			dbs = append(dbs, field)
		default:
			return nil, fmt.Errorf("--databases: unknown database %q (want sqlite, postgres or both)", field)
		}
	}
	if len(dbs) == 0 {
		return nil, fmt.Errorf("--databases: name at least one of sqlite, postgres")
	}
	return dbs, nil
}

// store is the database one platform's server runs on: nothing to start for
// SQLite (the server makes its file in its data dir), a private PostgreSQL
// cluster of its own for PostgreSQL, so that each platform starts on an
// empty database and a server cache as cold as SQLite's.
type store struct {
	name string
	pg   *localenv.Postgres
	// version is the PostgreSQL server's, settings what it runs with.
	version, settings string
}

func startStore(ctx context.Context, name string) (*store, error) {
	s := &store{name: name}
	if name == sqliteDB {
		return s, nil
	}
	pg, err := localenv.StartPostgres(ctx, localenv.PostgresOptions{})
	if err != nil {
		return nil, fmt.Errorf("starting a private PostgreSQL: %w", err)
	}
	s.pg = pg
	// Context for the figures, not one of them: a failure is no reason to stop.
	s.version, _ = pg.Query(ctx, "postgres", "SHOW server_version")
	if v, _, ok := strings.Cut(s.version, " "); ok {
		s.version = v
	}
	if out, err := pg.Query(ctx, "postgres", "SELECT current_setting('shared_buffers'), current_setting('fsync'), current_setting('synchronous_commit')"); err == nil {
		if f := strings.Split(out, "|"); len(f) == 3 {
			s.settings = fmt.Sprintf("shared_buffers %s, fsync %s, synchronous_commit %s", f[0], f[1], f[2])
		}
	}
	return s, nil
}

// serverArgs are the `worker --dev` arguments that put the server on it.
func (s *store) serverArgs() []string {
	if s.pg == nil {
		return nil
	}
	return []string{"--temporal-db", s.pg.URL("temporal")}
}

func (s *store) stop() {
	if s.pg != nil {
		s.pg.Stop()
	}
}

// logTail is the end of PostgreSQL's log, for a failed harness.
func (s *store) logTail() string {
	if s.pg == nil {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(s.pg.Dir, "logs", "postgres.log"))
	if err != nil {
		return ""
	}
	if len(data) > 8<<10 {
		data = data[len(data)-8<<10:]
	}
	return "--- last output of PostgreSQL ---\n" + string(data) + "\n"
}

// memory is what PostgreSQL holds: the proportional set size (PSS) of the
// postmaster and every backend, summed. RSS summed would count the shared
// buffers once per backend that touched them; PSS shares each page out
// among the processes mapping it, so the sum is the cluster's footprint.
// Nil for SQLite, which lives inside the server process.
func (s *store) memory() (*float64, error) {
	if s.pg == nil {
		return nil, nil
	}
	postmaster, err := postmasterPID(s.pg.Dir)
	if err != nil {
		return nil, err
	}
	pids := []int{postmaster}
	for _, p := range procs.List() {
		if p.PPID == postmaster {
			pids = append(pids, p.PID)
		}
	}
	var kib float64
	for _, pid := range pids {
		pss, err := pssKiB(pid)
		if err != nil {
			if pid == postmaster {
				return nil, err
			}
			continue // a backend that ended meanwhile
		}
		kib += pss
	}
	mib := kib / 1024
	return &mib, nil
}

// postmasterPID is the first line of the cluster's postmaster.pid.
func postmasterPID(dir string) (int, error) {
	path := filepath.Join(dir, "data", "postmaster.pid")
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading PostgreSQL's PID: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("%s does not start with a PID: %q", path, first)
	}
	return pid, nil
}

func pssKiB(pid int) (float64, error) {
	path := fmt.Sprintf("/proc/%d/smaps_rollup", pid)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading PostgreSQL's memory (Linux only): %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		}
	}
	return 0, fmt.Errorf("%s has no Pss line", path)
}
