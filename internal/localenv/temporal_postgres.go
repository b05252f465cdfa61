package localenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, as the server's postgres12_pgx plugin uses
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/tools/common/schema"
	schematool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// PostgresDB is a PostgreSQL server the embedded Temporal server keeps its
// data in: persistence in Database, visibility (the list and search
// attribute queries) in VisibilityDatabase, as Temporal's own deployments
// lay it out (temporal and temporal_visibility).
type PostgresDB struct {
	// Addr is host:port.
	Addr     string
	User     string
	Password string
	// Database holds persistence; VisibilityDatabase visibility.
	Database           string
	VisibilityDatabase string
	// Attributes are passed to the driver (sslmode, ...).
	Attributes map[string]string
}

// postgresURLForm is what ParsePostgresURL takes, for error messages.
const postgresURLForm = "postgres://USER[:PASSWORD]@HOST:PORT/DATABASE[?visibility_database=NAME&sslmode=...]"

// ParsePostgresURL reads postgres://USER[:PASSWORD]@HOST:PORT/DATABASE. The
// visibility database is DATABASE_visibility unless the query names it
// (visibility_database=NAME); every other query parameter goes to the driver
// (sslmode=require, ...). Both databases are created if missing.
func ParsePostgresURL(raw string) (*PostgresDB, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, fmt.Errorf("not a URL; want %s", postgresURLForm)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("scheme %q is not supported; want %s", u.Scheme, postgresURLForm)
	}
	db := &PostgresDB{Addr: u.Host, Database: strings.TrimPrefix(u.Path, "/"), Attributes: map[string]string{}}
	if u.User != nil {
		db.User = u.User.Username()
		db.Password, _ = u.User.Password()
	}
	var problems []string
	if db.User == "" {
		problems = append(problems, "no user")
	}
	if host, port, err := net.SplitHostPort(u.Host); err != nil || host == "" || port == "" {
		problems = append(problems, "no HOST:PORT")
	}
	if db.Database == "" || strings.Contains(db.Database, "/") {
		problems = append(problems, "no DATABASE")
	}
	for key, values := range u.Query() {
		if len(values) != 1 {
			problems = append(problems, fmt.Sprintf("parameter %s given %d times", key, len(values)))
			continue
		}
		if key == "visibility_database" {
			db.VisibilityDatabase = values[0]
		} else {
			db.Attributes[key] = values[0]
		}
	}
	if db.VisibilityDatabase == "" {
		db.VisibilityDatabase = db.Database + "_visibility"
	}
	if db.VisibilityDatabase == db.Database {
		problems = append(problems, "visibility_database is the persistence database (each needs its own: their schema version tables share names)")
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("%s; want %s", strings.Join(problems, ", "), postgresURLForm)
	}
	return db, nil
}

// String is the URL without its password, for banners and logs.
func (db *PostgresDB) String() string {
	u := url.URL{Scheme: "postgres", User: url.User(db.User), Host: db.Addr, Path: "/" + db.Database}
	if db.Password != "" {
		u.User = url.UserPassword(db.User, "xxxxx")
	}
	return u.String() + " (visibility: " + db.VisibilityDatabase + ")"
}

func (db *PostgresDB) sqlConfig(database string, maxConns int) *config.SQL {
	attrs := make(map[string]string, len(db.Attributes))
	for k, v := range db.Attributes {
		attrs[k] = v
	}
	return &config.SQL{
		PluginName:        postgresql.PluginName,
		DatabaseName:      database,
		ConnectAddr:       db.Addr,
		ConnectProtocol:   "tcp",
		User:              db.User,
		Password:          db.Password,
		ConnectAttributes: attrs,
		MaxConns:          maxConns,
		MaxIdleConns:      maxConns,
		MaxConnLifetime:   time.Hour,
	}
}

// The schemas embedded in the server module at the pinned version, and
// the number of history shards a new database is made with (Temporal's
// PostgreSQL configurations use 4; it cannot change once a database has
// workflows).
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
	postgresHistoryShards    = 4
)

// postgresStores creates both databases if missing and brings their schemas
// to the pinned server's versions with Temporal's own schema tool
// (temporal-sql-tool's setup-schema -v 0.0, then update-schema with the
// versioned schema files embedded in the server module). Both steps are
// no-ops on a database that is up to date, so every start runs them.
func postgresStores(db *PostgresDB, logger serverlog.Logger) (persistence, visibility *config.SQL, err error) {
	persistence = db.sqlConfig(db.Database, 20)
	visibility = db.sqlConfig(db.VisibilityDatabase, 10)
	for _, store := range []struct {
		conf   *config.SQL
		schema string
	}{{persistence, postgresSchema}, {visibility, postgresVisibilitySchema}} {
		if err := setupPostgresSchema(store.conf, store.schema, "", logger); err != nil {
			return nil, nil, fmt.Errorf("setting up Temporal's schema in PostgreSQL database %q on %s: %w", store.conf.DatabaseName, db.Addr, err)
		}
	}
	return persistence, visibility, nil
}

// setupPostgresSchema creates the database if missing, then sets up and
// updates its schema to targetVersion (empty: the newest the server ships).
func setupPostgresSchema(conf *config.SQL, schemaName, targetVersion string, logger serverlog.Logger) error {
	if err := ensurePostgresDatabase(conf, logger); err != nil {
		return err
	}
	conn, err := schematool.NewConnection(conf, logger)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	// Version tables, and version 0.0 on a database that has none yet.
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("setup-schema -v 0.0: %w", err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{
		DBName: conf.DatabaseName, SchemaName: schemaName, TargetVersion: targetVersion,
	}, logger).Run(); err != nil {
		return fmt.Errorf("update-schema (schema %s): %w", schemaName, err)
	}
	return nil
}

// ensurePostgresDatabase creates conf's database unless it can be used as
// it is. A user without the right to create databases can still use ones
// made for it.
func ensurePostgresDatabase(conf *config.SQL, logger serverlog.Logger) error {
	useErr := usePostgresDatabase(conf, logger)
	if useErr == nil {
		return nil
	}
	admin := *conf
	createErr := schematool.DoCreateDatabase(&admin, "postgres", logger)
	switch {
	case createErr == nil:
		return nil
	case createErr.Error() == useErr.Error():
		return fmt.Errorf("connecting as %q: %w (is PostgreSQL running there, and are the user and password right?)", conf.User, useErr)
	default:
		return fmt.Errorf("the database cannot be used (%v), and creating it failed: %w", useErr, createErr)
	}
}

func usePostgresDatabase(conf *config.SQL, logger serverlog.Logger) error {
	conn, err := schematool.NewConnection(conf, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ListTables()
	return err
}

// registerNamespace registers namespace through the frontend unless it
// exists, retrying while the server finishes starting, and returns once the
// frontend serves it.
func registerNamespace(frontend, namespace string) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: frontend, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return fmt.Errorf("connecting to the new server on %s to register namespace %q: %w", frontend, namespace, err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: namespace,
			// What the SQLite store's namespace gets, and `temporal server start-dev`'s.
			WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("registering namespace %q on %s: %w", namespace, frontend, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		_, err := nc.Describe(ctx, namespace)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("namespace %q registered on %s but not served within 30s: %w", namespace, frontend, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// postgresLockKey names the advisory lock an embedded server holds on its
// persistence database (any number: only this program takes it).
const postgresLockKey = 0x696e667261666c6f // "infraflo"

// lockPostgres takes a session-level advisory lock on the persistence
// database and holds it on a connection of its own until release. Two
// embedded servers on one database would each take every history shard from
// the other; the second is refused instead. The lock goes with the session,
// so a SIGKILLed server leaves none behind.
func lockPostgres(db *PostgresDB) (release func(), err error) {
	attrs := url.Values{}
	for k, v := range db.Attributes {
		attrs.Set(k, v)
	}
	if attrs.Get("sslmode") == "" {
		attrs.Set("sslmode", "disable") // as the server's own driver does without TLS
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(db.User, db.Password), Host: db.Addr, Path: "/" + db.Database, RawQuery: attrs.Encode()}
	pool, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("opening a connection to %s for the server's lock: %w", db, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Conn(ctx)
	if err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("connecting to %s for the server's lock: %w", db, err)
	}
	var locked bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", int64(postgresLockKey)).Scan(&locked); err != nil {
		_ = conn.Close()
		_ = pool.Close()
		return nil, fmt.Errorf("taking the server's lock on %s: %w", db, err)
	}
	if !locked {
		_ = conn.Close()
		_ = pool.Close()
		return nil, fmt.Errorf("another embedded Temporal server (worker --dev) is running on %s: stop it, or point this worker at it with --address instead of --dev", db)
	}
	return func() {
		_ = conn.Close()
		_ = pool.Close()
	}, nil
}
