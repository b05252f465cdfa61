package chatops

import (
	"database/sql"
	"fmt"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// ReplayFile is the replay guard's SQLite file inside the data directory.
const ReplayFile = "chatops-replay.db"

// ReplayWindow is how long a seen signature is remembered: longer than the
// 5 minutes a Slack timestamp stays fresh, so a replay is refused either way.
const ReplayWindow = 10 * time.Minute

// ReplayGuard remembers signed requests: FirstUse says whether a signature
// is new, and remembers it.
type ReplayGuard interface {
	FirstUse(signature string, now time.Time) (bool, error)
}

// SQLiteReplayGuard keeps seen signatures in a SQLite table, so a replay is
// refused after a restart and by every chat endpoint sharing the data
// directory (the worker's and `starter chatops`). Entries older than
// ReplayWindow are deleted as new ones arrive.
type SQLiteReplayGuard struct {
	db *sql.DB
}

// OpenReplayGuard opens (creating) the guard's file.
func OpenReplayGuard(path string) (*SQLiteReplayGuard, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("opening the chat replay guard %s: %w", path, err)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS seen_requests (
		signature TEXT PRIMARY KEY,
		seen_at   INTEGER NOT NULL
	); CREATE INDEX IF NOT EXISTS seen_requests_at ON seen_requests (seen_at)`); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("creating the chat replay guard %s: %w", path, err)
	}
	return &SQLiteReplayGuard{db: db}, nil
}

// FirstUse implements ReplayGuard: the insert succeeds only for a signature
// not seen within the window, atomically across processes.
func (g *SQLiteReplayGuard) FirstUse(signature string, now time.Time) (bool, error) {
	if _, err := g.db.Exec(`DELETE FROM seen_requests WHERE seen_at < ?`, now.Add(-ReplayWindow).UnixNano()); err != nil {
		return false, fmt.Errorf("expiring old replay entries: %w", err)
	}
	res, err := g.db.Exec(`INSERT INTO seen_requests (signature, seen_at) VALUES (?, ?) ON CONFLICT (signature) DO NOTHING`, signature, now.UnixNano())
	if err != nil {
		return false, fmt.Errorf("recording the request signature: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Len counts the remembered signatures.
func (g *SQLiteReplayGuard) Len() (int, error) {
	var n int
	err := g.db.QueryRow(`SELECT count(*) FROM seen_requests`).Scan(&n)
	return n, err
}

// Close closes the file.
func (g *SQLiteReplayGuard) Close() error { return g.db.Close() }

// memoryGuard is a ReplayGuard for one process.
type memoryGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// NewMemoryReplayGuard remembers signatures in this process only.
func NewMemoryReplayGuard() ReplayGuard { return &memoryGuard{seen: map[string]time.Time{}} }

func (g *memoryGuard) FirstUse(signature string, now time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for sig, at := range g.seen {
		if now.Sub(at) > ReplayWindow {
			delete(g.seen, sig)
		}
	}
	if _, ok := g.seen[signature]; ok {
		return false, nil
	}
	g.seen[signature] = now
	return true, nil
}
