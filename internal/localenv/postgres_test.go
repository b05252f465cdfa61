package localenv

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	serverlog "go.temporal.io/server/common/log"
	pgschema "go.temporal.io/server/schema/postgresql/v12"

	"github.com/infraflow/infraflow/internal/testtier"
)

func TestParsePostgresURL(t *testing.T) {
	good := map[string]PostgresDB{
		"postgres://temporal@127.0.0.1:5432/temporal": {Addr: "127.0.0.1:5432", User: "temporal",
			Database: "temporal", VisibilityDatabase: "temporal_visibility", Attributes: map[string]string{}},
		"postgresql://infra:s3cret@db.internal:6432/infra?sslmode=require&visibility_database=infra_vis": {Addr: "db.internal:6432",
			User: "infra", Password: "s3cret", Database: "infra", VisibilityDatabase: "infra_vis",
			Attributes: map[string]string{"sslmode": "require"}},
	}
	for raw, want := range good {
		got, err := ParsePostgresURL(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s = %+v, want %+v", raw, *got, want)
		}
	}
	if s := (&PostgresDB{Addr: "h:1", User: "u", Password: "s3cret", Database: "d", VisibilityDatabase: "d_visibility"}).String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "postgres://u:xxxxx@h:1/d") {
		t.Errorf("String() = %q, want the URL with its password hidden", s)
	}
	bad := map[string]string{
		"mysql://temporal@127.0.0.1:3306/temporal":                            `scheme "mysql" is not supported`,
		"postgres://127.0.0.1:5432/temporal":                                  "no user",
		"postgres://temporal@127.0.0.1/temporal":                              "no HOST:PORT",
		"postgres://temporal@127.0.0.1:5432":                                  "no DATABASE",
		"postgres://temporal@127.0.0.1:5432/t?visibility_database=t":          "visibility_database is the persistence database",
		"postgres://temporal@127.0.0.1:5432/t?sslmode=require&sslmode=verify": "parameter sslmode given 2 times",
		"/var/lib/temporal.db":                                                `scheme "" is not supported`,
		"postgres://temporal:s3cret@127.0.0.1:5432/t\x7f":                     "not a URL",
	}
	for raw, want := range bad {
		_, err := ParsePostgresURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want postgres://USER") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: err = %v, want it to say %q and show the form, never the password", raw, err, want)
		}
	}
}

// TestTemporalSchemaOnPostgresIsUpdatedAndIdempotent runs Temporal's schema
// tool against a real PostgreSQL: a database left at an old schema version
// is brought to the pinned server's, and a start on an up-to-date database
// changes nothing.
func TestTemporalSchemaOnPostgresIsUpdatedAndIdempotent(t *testing.T) {
	testtier.RealTools(t, "PostgreSQL (initdb, postgres)")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := time.Now()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	t.Logf("initdb + postgres ready in %s", time.Since(started).Round(time.Millisecond))
	db, err := ParsePostgresURL(pg.URL("temporal"))
	if err != nil {
		t.Fatal(err)
	}
	logger := serverlog.NewNoopLogger()
	version := func(database string) string {
		t.Helper()
		v, err := pg.Query(ctx, database, "SELECT curr_version FROM schema_version")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	history := func(database string) string {
		t.Helper()
		n, err := pg.Query(ctx, database, "SELECT count(*) FROM schema_update_history")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// An older deployment: persistence stopped at 1.10.
	if err := setupPostgresSchema(db.sqlConfig(db.Database, 2), postgresSchema, "1.10", logger); err != nil {
		t.Fatal(err)
	}
	if v := version("temporal"); v != "1.10" {
		t.Fatalf("after update-schema -v 1.10: version %q", v)
	}

	started = time.Now()
	if _, _, err := postgresStores(db, logger); err != nil {
		t.Fatal(err)
	}
	t.Logf("schema update of temporal (1.10 -> %s) and setup of temporal_visibility: %s", pgschema.Version, time.Since(started).Round(time.Millisecond))
	if v := version("temporal"); v != pgschema.Version {
		t.Errorf("temporal schema at %q, want the pinned server's %s", v, pgschema.Version)
	}
	if v := version("temporal_visibility"); v != pgschema.VisibilityVersion {
		t.Errorf("temporal_visibility schema at %q, want the pinned server's %s", v, pgschema.VisibilityVersion)
	}
	if n, err := pg.Query(ctx, "temporal", "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('executions', 'history_node', 'namespaces')"); err != nil || n != "3" {
		t.Errorf("persistence tables: %q %v, want executions, history_node and namespaces", n, err)
	}
	if n, err := pg.Query(ctx, "temporal_visibility", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'executions_visibility' AND column_name = 'keyword10'"); err != nil || n != "1" {
		t.Errorf("visibility custom search attribute columns: %q %v, want keyword10", n, err)
	}

	before := history("temporal") + "/" + history("temporal_visibility")
	started = time.Now()
	if _, _, err := postgresStores(db, logger); err != nil {
		t.Fatalf("second setup on an up-to-date database: %v", err)
	}
	t.Logf("setup on an up-to-date database: %s", time.Since(started).Round(time.Millisecond))
	if after := history("temporal") + "/" + history("temporal_visibility"); after != before {
		t.Errorf("schema_update_history rows went from %s to %s on an up-to-date database, want no change", before, after)
	}
}

func TestStartPostgresRefusesATakenAddress(t *testing.T) {
	testtier.RealTools(t, "PostgreSQL (initdb, postgres)")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	if _, err := StartPostgres(ctx, PostgresOptions{Address: pg.Addr}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("second PostgreSQL on %s: err = %v, want the address named as in use", pg.Addr, err)
	}
	dir := pg.Dir
	pg.Stop()
	pg.Stop()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s after Stop: %v, want it removed", dir, err)
	}
}
