package pulumistack

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// The backends a stack's state can live in: Pulumi's DIY file backend (one
// machine) or its PostgreSQL one (every worker that reaches the database).
const (
	BackendFile     = "file"
	BackendPostgres = "postgres"
)

// ParseBackend checks a backend URL as `pulumi login` takes it, for the
// kinds infraflow reads state from: file://DIR and postgres://....
func ParseBackend(raw string) (kind string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("backend %q: %w", RedactBackend(raw), err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return "", fmt.Errorf("backend %q: a file backend names an absolute directory, file:///path/to/state", raw)
		}
		return BackendFile, nil
	case "postgres", "postgresql":
		if u.Host == "" {
			return "", fmt.Errorf("backend %q: name the server, postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=disable", RedactBackend(raw))
		}
		return BackendPostgres, nil
	default:
		return "", fmt.Errorf("backend %q: infraflow keeps stack state in file://DIR (one machine) or postgres://... (shared by every worker)", RedactBackend(raw))
	}
}

// RedactBackend hides a backend URL's password for messages and banners.
func RedactBackend(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// store reads the blobs Pulumi's DIY backend keeps: each key is a path
// such as .pulumi/stacks/<project>/<stack>.json, in a directory or in a
// PostgreSQL table. infraflow reads state and locks without a CLI run (most
// of a CPU-second each) and removes locks it proved orphaned.
type store interface {
	// read returns a blob, or an error wrapping os.ErrNotExist.
	read(ctx context.Context, key string) ([]byte, error)
	// list returns the keys under prefix, sorted.
	list(ctx context.Context, prefix string) ([]string, error)
	remove(ctx context.Context, key string) error
	// write stores a blob; with onlyNew it keeps one already there.
	write(ctx context.Context, key string, data []byte, onlyNew bool) error
	// db is the database of a PostgreSQL backend, nil for files.
	db() *sql.DB
}

var (
	storesMu sync.Mutex
	stores   = map[string]store{}
)

// storeOf opens (once per process) the store of a backend URL.
func storeOf(ctx context.Context, backend string) (store, error) {
	storesMu.Lock()
	defer storesMu.Unlock()
	if s, ok := stores[backend]; ok {
		return s, nil
	}
	kind, err := ParseBackend(backend)
	if err != nil {
		return nil, err
	}
	var s store
	switch kind {
	case BackendFile:
		u, _ := url.Parse(backend)
		s = fileStore{root: u.Path}
	default:
		if s, err = openPostgresStore(ctx, backend); err != nil {
			return nil, err
		}
	}
	stores[backend] = s
	return s, nil
}

type fileStore struct{ root string }

func (f fileStore) read(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(f.root, filepath.FromSlash(key)))
}

func (f fileStore) list(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(filepath.Join(f.root, filepath.FromSlash(path.Dir(prefix))), func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(f.root, p)
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

func (f fileStore) remove(_ context.Context, key string) error {
	return os.Remove(filepath.Join(f.root, filepath.FromSlash(key)))
}

func (f fileStore) write(_ context.Context, key string, data []byte, onlyNew bool) error {
	path := filepath.Join(f.root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".write-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if onlyNew {
		// A hard link fails when the name is taken, and is atomic.
		if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return nil
	}
	return os.Rename(tmp.Name(), path)
}

func (fileStore) db() *sql.DB { return nil }

// postgresStore reads the table of Pulumi's PostgreSQL backend
// (pkg/backend/diy/postgres): key, and data holding {"data": base64 blob}.
type postgresStore struct {
	pool  *sql.DB
	table string
	// prefix starts every key: Pulumi's bucket puts the URL's path (the
	// database name) in front of the DIY layout.
	prefix string
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func openPostgresStore(ctx context.Context, backend string) (*postgresStore, error) {
	u, _ := url.Parse(backend)
	q := u.Query()
	table := q.Get("table")
	if table == "" {
		table = "pulumi_state"
	}
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("backend %s: table %q is not a plain SQL name", u.Redacted(), table)
	}
	q.Del("table")
	u.RawQuery = q.Encode()
	u.Scheme = "postgres"
	pool, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", u.Redacted(), err)
	}
	// Each operation in flight holds a connection for its hold (hold.go).
	pool.SetMaxIdleConns(4)
	// The same table Pulumi creates when it opens the backend: infraflow may
	// read before any CLI run did.
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS ` + table + ` (key TEXT PRIMARY KEY, data JSON NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now())`,
		`CREATE INDEX IF NOT EXISTS ` + table + `_key_prefix_idx ON ` + table + ` (key text_pattern_ops)`,
		holdsTable,
	} {
		if _, err := pool.ExecContext(ctx, stmt); err != nil && !isDuplicateObject(err) {
			pool.Close()
			return nil, fmt.Errorf("backend %s: preparing its tables: %w", u.Redacted(), err)
		}
	}
	return &postgresStore{pool: pool, table: table, prefix: strings.TrimPrefix(u.Path, "/") + "/"}, nil
}

// isDuplicateObject is two workers creating the same table at once: CREATE
// ... IF NOT EXISTS races in PostgreSQL and one of them sees a unique
// violation on the catalog.
func isDuplicateObject(err error) bool {
	return strings.Contains(err.Error(), "SQLSTATE 23505") || strings.Contains(err.Error(), "SQLSTATE 42P07")
}

func (p *postgresStore) read(ctx context.Context, key string) ([]byte, error) {
	var raw string
	err := p.pool.QueryRowContext(ctx, `SELECT data FROM `+p.table+` WHERE key = $1`, p.prefix+key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", key, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	var blob struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal([]byte(raw), &blob); err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return base64.StdEncoding.DecodeString(blob.Data)
}

func (p *postgresStore) list(ctx context.Context, prefix string) ([]string, error) {
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p.prefix+prefix) + "%"
	rows, err := p.pool.QueryContext(ctx, `SELECT key FROM `+p.table+` WHERE key LIKE $1 ORDER BY key`, like)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, strings.TrimPrefix(k, p.prefix))
	}
	return keys, rows.Err()
}

func (p *postgresStore) remove(ctx context.Context, key string) error {
	_, err := p.pool.ExecContext(ctx, `DELETE FROM `+p.table+` WHERE key = $1`, p.prefix+key)
	return err
}

func (p *postgresStore) write(ctx context.Context, key string, data []byte, onlyNew bool) error {
	blob, _ := json.Marshal(map[string]string{"data": base64.StdEncoding.EncodeToString(data)})
	conflict := `DO UPDATE SET data = $2, updated_at = now()`
	if onlyNew {
		conflict = `DO NOTHING`
	}
	if _, err := p.pool.ExecContext(ctx, `INSERT INTO `+p.table+` (key, data) VALUES ($1, $2) ON CONFLICT (key) `+conflict, p.prefix+key, string(blob)); err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	return nil
}

func (p *postgresStore) db() *sql.DB { return p.pool }
