package localenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrPostgresMissing says PostgreSQL's server programs are not installed.
var ErrPostgresMissing = errors.New("PostgreSQL is not installed (no initdb and postgres under /usr/lib/postgresql/<major>/bin or on PATH): run `make tools` (it installs the Debian postgresql package)")

// PostgresSuperuser is the superuser of a cluster StartPostgres makes; it
// logs in without a password (trust authentication, loopback only).
const PostgresSuperuser = "temporal"

// FindPostgres returns the directory of PostgreSQL's server programs
// (initdb, postgres, pg_isready, psql). Debian keeps them off PATH, under
// /usr/lib/postgresql/<major>/bin; the newest major installed wins.
func FindPostgres() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(initdb)
		if isExecutable(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", ErrPostgresMissing
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// PostgresOptions say where a private PostgreSQL keeps its cluster and
// listens.
type PostgresOptions struct {
	// Dir holds the cluster (data/), the Unix socket and logs/postgres.log. An
	// existing cluster in it is started again as it is. Empty: a new temporary
	// directory, removed by Stop. As root, Dir and its parents must be
	// reachable by the postgres user, since PostgreSQL refuses to run as root.
	Dir string
	// Address is host:port; empty picks a free port on 127.0.0.1.
	Address string
}

// Postgres is a private PostgreSQL server: its own cluster made by initdb,
// run by this process (no system service), for tests and local platforms.
type Postgres struct {
	// Addr is host:port.
	Addr string
	// Dir holds the cluster, the socket and the log.
	Dir string

	bin     string
	ownDir  bool
	proc    *managedProcess
	stopped bool
}

// StartPostgres makes a cluster in opts.Dir unless one is there (superuser
// PostgresSuperuser, trust authentication), starts postgres on opts.Address
// and waits until it accepts connections.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	bin, err := FindPostgres()
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: opts.Dir, Addr: opts.Address, bin: bin}
	if p.Dir == "" {
		if p.Dir, err = os.MkdirTemp("", "infraflow-postgres-"); err != nil {
			return nil, fmt.Errorf("making a directory for PostgreSQL: %w", err)
		}
		p.ownDir = true
	} else if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("making PostgreSQL's directory %s: %w", p.Dir, err)
	}
	started := false
	defer func() {
		if !started && p.ownDir {
			_ = os.RemoveAll(p.Dir)
		}
	}()
	if p.Addr == "" {
		p.Addr = freeAddrOn("127.0.0.1")
	} else if err := portFree(p.Addr); err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(p.Addr, "PostgreSQL address")
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential(p.Dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(p.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		// --no-sync: a new cluster is not flushed to disk at once (seconds saved
		// on every test); the server itself runs with fsync on.
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", PostgresSuperuser,
			"-E", "UTF8", "--locale", "C", "--no-sync")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb -D %s: %w\n%s", data, err, out)
		}
	}
	p.proc, err = startManagedAs(cred, filepath.Join(p.Dir, "logs"), filepath.Join(bin, "postgres"),
		"-D", data, "-p", strconv.Itoa(port), "-k", p.Dir, "-c", "listen_addresses="+host)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := exec.CommandContext(ctx, filepath.Join(bin, "pg_isready"), "-q", "-h", host, "-p", strconv.Itoa(port), "-U", PostgresSuperuser, "-d", "postgres")
		if ready.Run() == nil {
			started = true
			return p, nil
		}
		if exited := p.proc.exited(); exited != nil {
			return nil, fmt.Errorf("postgres exited while starting: %v (log: %s)", exited, p.proc.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stopProcess()
			return nil, fmt.Errorf("postgres on %s not accepting connections after 60s (log: %s)", p.Addr, p.proc.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postgresCredential is who runs initdb and postgres: this process's user,
// or, as root, the postgres user the Debian package makes, given dir.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root, and there is no postgres user to run it as (run `make tools`, which installs the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("giving %s to the postgres user: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// URL is the connection URL of database db as the superuser, the form
// `worker --dev --temporal-db` takes.
func (p *Postgres) URL(db string) string {
	return "postgres://" + PostgresSuperuser + "@" + p.Addr + "/" + db
}

// Query runs sql in database db with psql and returns its rows, one a line,
// columns separated by "|".
func (p *Postgres) Query(ctx context.Context, db, sql string) (string, error) {
	host, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", host, "-p", port, "-U", PostgresSuperuser, "-d", db, "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql -d %s -c %q: %w\n%s", db, sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// removes the directory StartPostgres made. A second Stop does nothing.
func (p *Postgres) Stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	p.stopProcess()
	if p.ownDir {
		_ = os.RemoveAll(p.Dir)
	}
}

func (p *Postgres) stopProcess() {
	// SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client
	// to disconnect; SIGINT ends their sessions.
	p.proc.signal(syscall.SIGINT)
	select {
	case <-p.proc.done:
	case <-time.After(30 * time.Second):
		p.proc.signal(syscall.SIGKILL)
		<-p.proc.done
	}
}
