package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pgschema "go.temporal.io/server/schema/postgresql/v12"
	"gopkg.in/yaml.v3"

	"github.com/infraflow/infraflow/internal/localenv"
)

// TestComposeSchemaJobMakesADatabaseTheServerRuns runs docker-compose.yml's
// schema job for real, without Docker: its script, with temporal-sql-tool
// built from the pinned server module and that module's schema directory in
// place of the admin-tools image's /etc/temporal/schema, against a private
// PostgreSQL, twice (it runs on every `docker compose up`). The embedded
// server of the same version then runs a workflow on that database.
func TestComposeSchemaJobMakesADatabaseTheServerRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Entrypoint  []string          `yaml:"entrypoint"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	job := compose.Services["temporal-schema"]
	if len(job.Entrypoint) == 0 || len(job.Command) != 1 {
		t.Fatalf("temporal-schema: entrypoint %q, command %q; want a shell and one script", job.Entrypoint, job.Command)
	}

	tools := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(tools, "temporal-sql-tool"), "go.temporal.io/server/cmd/tools/sql")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building temporal-sql-tool from the pinned server module: %v\n%s", err, out)
	}
	moduleDir, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server").Output()
	if err != nil {
		t.Fatalf("go list -m go.temporal.io/server: %v", err)
	}
	// Compose turns $$ into $; the image's schema directory is the module's.
	script := strings.ReplaceAll(job.Command[0], "$$", "$")
	script = strings.ReplaceAll(script, "/etc/temporal/schema/", filepath.Join(strings.TrimSpace(string(moduleDir)), "schema")+"/")

	pg, err := localenv.StartPostgres(ctx, localenv.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	host, port, _ := strings.Cut(pg.Addr, ":")
	env := append(os.Environ(), "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range job.Environment {
		switch k {
		case "SQL_HOST":
			v = host
		case "SQL_PORT":
			v = port
		case "SQL_USER":
			v = localenv.PostgresSuperuser
		}
		env = append(env, k+"="+v)
	}
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, job.Entrypoint[0], append(job.Entrypoint[1:], script)...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the schema job, run %d: %v\n%s", run, err, out)
		}
	}
	for db, want := range map[string]string{"temporal": pgschema.Version, "temporal_visibility": pgschema.VisibilityVersion} {
		if got := pgQuery(ctx, t, pg, db, "SELECT curr_version FROM schema_version"); got != want {
			t.Errorf("%s schema at %q after the job, want the pinned server's %s", db, got, want)
		}
	}

	p := newPlatform(t).withoutKubernetes()
	p.extraArgs = []string{"--temporal-db", pg.URL("temporal")}
	p.start()
	p.mustTemporal("workflow", "execute", "--type", "PlatformCheck", "--task-queue", p.taskQueue,
		"--workflow-id", "check-on-compose-schema", "--input", `{"tools": ["temporal-server"]}`)
	p.waitListed(`InfraflowKind = 'PlatformCheck'`, "check-on-compose-schema")
}
