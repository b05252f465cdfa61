package pulumistack

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/infraflow/infraflow/internal/stackop"
)

// A hold is a worker's claim on a stack for the length of one operation.
// Pulumi's own lock says only that a CLI once started an update; it cannot
// tell a slow update from one whose worker died, and breaking it because a
// heartbeat timed out lets two engines write one state. A hold is released by
// the operating system or the database when its process dies (an flock on the
// file backend, a session advisory lock in PostgreSQL) and the CLI dies with
// its worker (pdeathsig), so a Pulumi lock found while holding the stack is
// provably orphaned when its writer's worker no longer holds it.

// Holder says who holds a stack.
type Holder struct {
	Identity string    `json:"identity"` // the Temporal worker identity
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Since    time.Time `json:"since"`
}

func (h Holder) String() string {
	return fmt.Sprintf("worker %s (host %s, pid %d) since %s", h.Identity, h.Host, h.PID, h.Since.UTC().Format(time.RFC3339))
}

// HeldError is a stack another live worker is operating on.
type HeldError struct {
	Stack string
	By    Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("stack %s is held by %s, which is still running; its lock is left alone", e.Stack, e.By)
}

// Hold is this worker's claim on one stack; Release it when the operation
// ends.
type Hold struct {
	// Previous is the holder of a hold never released: a worker that died
	// in the middle of an operation on this stack.
	Previous *Holder
	release  func()
}

// Release gives the stack up. A second call does nothing.
func (h *Hold) Release() {
	if h != nil && h.release != nil {
		h.release()
		h.release = nil
	}
}

// holdsTable records the holders of the PostgreSQL backend's stacks; the
// claim itself is the advisory lock.
const holdsTable = `CREATE TABLE IF NOT EXISTS infraflow_stack_holds (stack TEXT PRIMARY KEY, holder JSON NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now())`

// Hold claims the stack, or returns a *HeldError naming the live worker that
// has it.
func (e Env) Hold(ctx context.Context, ref stackop.Ref, identity string) (*Hold, error) {
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	me := Holder{Identity: identity, Host: host, PID: os.Getpid(), Since: time.Now()}
	key := projectOf(ref) + "/" + ref.Stack
	if db := s.db(); db != nil {
		return holdInPostgres(ctx, db, key, me)
	}
	return holdFile(filepath.Join(s.(fileStore).root, ".infraflow", "holds", projectOf(ref), ref.Stack+".json"), key, me)
}

func holdInPostgres(ctx context.Context, db *sql.DB, key string, me Holder) (*Hold, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("holding stack %s: %w", key, err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, "infraflow-stack:"+key).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("holding stack %s: %w", key, err)
	}
	var previous *Holder
	var raw []byte
	switch err := conn.QueryRowContext(ctx, `SELECT holder FROM infraflow_stack_holds WHERE stack = $1`, key).Scan(&raw); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		unlockAndClose(conn, key, got)
		return nil, fmt.Errorf("reading the holder of %s: %w", key, err)
	default:
		previous = &Holder{}
		if err := json.Unmarshal(raw, previous); err != nil {
			previous = &Holder{Identity: "unreadable: " + string(raw)}
		}
	}
	if !got {
		unlockAndClose(conn, key, false)
		by := Holder{Identity: "unknown (no holder recorded yet)"}
		if previous != nil {
			by = *previous
		}
		return nil, &HeldError{Stack: key, By: by}
	}
	mine, _ := json.Marshal(me)
	if _, err := conn.ExecContext(ctx, `INSERT INTO infraflow_stack_holds (stack, holder) VALUES ($1, $2)
		ON CONFLICT (stack) DO UPDATE SET holder = $2, updated_at = now()`, key, string(mine)); err != nil {
		unlockAndClose(conn, key, true)
		return nil, fmt.Errorf("recording the holder of %s: %w", key, err)
	}
	return &Hold{Previous: previous, release: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(ctx, `DELETE FROM infraflow_stack_holds WHERE stack = $1`, key)
		unlockAndClose(conn, key, true)
	}}, nil
}

// unlockAndClose gives the connection back to the pool without the advisory
// lock: a pooled session keeps its locks. A connection that cannot unlock is
// discarded, which ends its session and so the lock.
func unlockAndClose(conn *sql.Conn, key string, locked bool) {
	if locked {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, "infraflow-stack:"+key); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}
	_ = conn.Close()
}

func holdFile(path, key string, me Holder) (*Hold, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("holding stack %s: %w", key, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("holding stack %s: %w", key, err)
	}
	var previous *Holder
	if raw, _ := os.ReadFile(path); len(raw) > 0 {
		previous = &Holder{}
		if json.Unmarshal(raw, previous) != nil {
			previous = &Holder{Identity: "unreadable: " + string(raw)}
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			by := Holder{Identity: "unknown (no holder recorded yet)"}
			if previous != nil {
				by = *previous
			}
			return nil, &HeldError{Stack: key, By: by}
		}
		return nil, fmt.Errorf("holding stack %s: %w", key, err)
	}
	release := func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	mine, _ := json.Marshal(me)
	if err := f.Truncate(0); err != nil {
		release()
		return nil, fmt.Errorf("recording the holder of %s: %w", key, err)
	}
	if _, err := f.WriteAt(mine, 0); err != nil {
		release()
		return nil, fmt.Errorf("recording the holder of %s: %w", key, err)
	}
	return &Hold{Previous: previous, release: release}, nil
}
