package toolchain

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Docker cannot run on the development machines, so docker-compose.yml and
// worker/Dockerfile are checked here: their versions are the pinned ones,
// and the pieces refer to each other correctly.

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	Environment map[string]string                     `yaml:"environment"`
	Entrypoint  []string                              `yaml:"entrypoint"`
	Command     []string                              `yaml:"command"`
	Ports       []string                              `yaml:"ports"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Configs  map[string]struct {
		Content string `yaml:"content"`
	} `yaml:"configs"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// repoFile reads a file at the repository root (tests run in internal/toolchain).
func repoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(repoFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// goModRequire is the version go.mod requires of module.
func goModRequire(t *testing.T, module string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(v\S+)`).FindStringSubmatch(repoFile(t, "go.mod"))
	if m == nil {
		t.Fatalf("go.mod does not require %s", module)
	}
	return m[1]
}

func TestComposeVersionsAreThePinnedOnes(t *testing.T) {
	c := loadCompose(t)
	server := strings.TrimPrefix(TemporalServerVersion, "v")
	ui := strings.TrimPrefix(TemporalUIVersion, "v")
	if got := goModRequire(t, "go.temporal.io/server"); got != TemporalServerVersion {
		t.Errorf("go.mod embeds server %s, versions.env pins %s", got, TemporalServerVersion)
	}
	if got := goModRequire(t, "github.com/temporalio/ui-server/v2"); got != TemporalUIVersion {
		t.Errorf("go.mod embeds ui-server %s, versions.env pins %s", got, TemporalUIVersion)
	}
	want := map[string]string{
		"temporal":           "temporalio/server:" + server,
		"temporal-schema":    "temporalio/admin-tools:" + server,
		"temporal-namespace": "temporalio/admin-tools:" + server,
		"temporal-ui":        "temporalio/ui:" + ui,
	}
	for name, image := range want {
		if got := c.Services[name].Image; got != image {
			t.Errorf("service %s runs image %q, want %q (versions.env)", name, got, image)
		}
	}
	if got := c.Services["postgresql"].Image; !regexp.MustCompile(`^postgres:` + regexp.QuoteMeta(PostgreSQLVersion) + `(\.\d+)?$`).MatchString(got) {
		t.Errorf("service postgresql runs image %q, want postgres:%s[.minor] (POSTGRESQL_VERSION, Debian's postgresql)", got, PostgreSQLVersion)
	}
	for name, svc := range c.Services {
		image, tag, tagged := strings.Cut(svc.Image, ":")
		switch {
		case svc.Image == "":
			t.Errorf("service %s has no image", name)
		case !tagged || tag == "latest" || tag == "":
			t.Errorf("service %s runs %q, want a pinned tag", name, svc.Image)
		case strings.Contains(image, "auto-setup"):
			t.Errorf("service %s runs the deprecated auto-setup image %q: use the server image and the admin tools' schema job", name, svc.Image)
		}
	}
}

func TestComposeSchemaJobRunsBeforeTheServer(t *testing.T) {
	c := loadCompose(t)
	if cond := c.Services["temporal"].DependsOn["temporal-schema"].Condition; cond != "service_completed_successfully" {
		t.Errorf("temporal waits for temporal-schema with %q, want service_completed_successfully", cond)
	}
	script := strings.Join(c.Services["temporal-schema"].Command, "\n")
	for _, want := range []string{"temporal-sql-tool", "create-database", "setup-schema -v 0.0", "update-schema", "/etc/temporal/schema/postgresql/v12/", "temporal_visibility:visibility"} {
		if !strings.Contains(script, want) {
			t.Errorf("temporal-schema's script lacks %q:\n%s", want, script)
		}
	}
	env := c.Services["temporal"].Environment
	if env["DB"] != "postgres12" || env["POSTGRES_SEEDS"] != "postgresql" || env["VISIBILITY_DBNAME"] != "temporal_visibility" {
		t.Errorf("temporal's database settings = %v, want postgres12 on the postgresql service with visibility in temporal_visibility", env)
	}
}

func TestComposeWorkersAreBuiltHereAndScraped(t *testing.T) {
	c := loadCompose(t)
	w := c.Services["worker"]
	if w.Build == nil || w.Build.Context != "." {
		t.Fatalf("worker build = %+v, want this repository as the context", w.Build)
	}
	if _, err := os.Stat(filepath.Join("..", "..", w.Build.Dockerfile)); err != nil {
		t.Errorf("worker's Dockerfile: %v", err)
	}
	// Every service that runs the worker image builds it: Compose would
	// otherwise try to pull infraflow-worker:local from a registry.
	for name, svc := range c.Services {
		if svc.Image == w.Image && (svc.Build == nil || *svc.Build != *w.Build) {
			t.Errorf("service %s runs the worker image %s without building it as the worker does", name, svc.Image)
		}
	}
	if w.Deploy.Replicas != 2 {
		t.Errorf("worker replicas = %d, want 2", w.Deploy.Replicas)
	}
	if got, want := w.Environment["TEMPORAL_ADDRESS"], "temporal:7233"; got != want || !slices.Contains(c.Services["temporal"].Ports, "7233:7233") {
		t.Errorf("worker's TEMPORAL_ADDRESS = %q, want %q (the temporal service's frontend)", got, want)
	}
	if w.Environment["INFRAFLOW_CODEC_KEY_FILE"] == "" {
		t.Error("worker has no INFRAFLOW_CODEC_KEY_FILE: outside --dev a worker without keys refuses to start")
	}
	// The replicas share one Pulumi state and the passphrase that encrypts
	// it: a worker outside --dev without a passphrase refuses to start.
	if backend := w.Environment["INFRAFLOW_PULUMI_BACKEND"]; !strings.HasPrefix(backend, "postgres://") || !strings.Contains(backend, "@postgresql:5432/") {
		t.Errorf("worker's INFRAFLOW_PULUMI_BACKEND = %q, want the postgresql service's database", backend)
	}
	if job := c.Services["temporal-schema"].Command; len(job) == 0 || !strings.Contains(job[0], "--db pulumi create-database") {
		t.Error("the schema job does not create the pulumi database the workers' backend names")
	}
	if w.Environment["PULUMI_CONFIG_PASSPHRASE_FILE"] != "/run/secrets/pulumi-passphrase" || c.Secrets["pulumi-passphrase"].File == "" {
		t.Errorf("worker's PULUMI_CONFIG_PASSPHRASE_FILE = %q (secret %+v), want the shared pulumi-passphrase secret", w.Environment["PULUMI_CONFIG_PASSPHRASE_FILE"], c.Secrets["pulumi-passphrase"])
	}
	_, metricsPort, ok := strings.Cut(w.Environment["INFRAFLOW_METRICS_ADDRESS"], ":")
	if !ok || strings.HasPrefix(w.Environment["INFRAFLOW_METRICS_ADDRESS"], "127.") {
		t.Fatalf("worker's INFRAFLOW_METRICS_ADDRESS = %q, want host:port on all interfaces", w.Environment["INFRAFLOW_METRICS_ADDRESS"])
	}

	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(c.Configs["prometheus-config"].Content), &prom); err != nil {
		t.Fatalf("prometheus-config: %v", err)
	}
	scraped := false
	for _, job := range prom.ScrapeConfigs {
		for _, sd := range job.DNSSDConfigs {
			// One A record per replica: every worker is scraped.
			if slices.Contains(sd.Names, "worker") && sd.Type == "A" && strings.TrimSpace(metricsPort) == strconv.Itoa(sd.Port) {
				scraped = true
			}
		}
	}
	if !scraped {
		t.Errorf("Prometheus does not scrape every worker replica on port %s:\n%s", metricsPort, c.Configs["prometheus-config"].Content)
	}
}

func TestWorkerDockerfileBuildsWithThePinnedGo(t *testing.T) {
	dockerfile := repoFile(t, "worker/Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(dockerfile, -1)
	if len(froms) < 2 {
		t.Fatalf("worker/Dockerfile has %d stages, want a build stage and a run stage", len(froms))
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(repoFile(t, "go.mod"))
	if goVersion == nil || !strings.HasPrefix(froms[0][1], "golang:"+goVersion[1]+"-") {
		t.Errorf("build stage FROM %s, want golang:<go.mod's go %v>-...", froms[0][1], goVersion)
	}
	for _, want := range []string{". internal/toolchain/versions.env", "version.Version=$PULUMI_VERSION", "main.Version=$PROVIDER_VERSION", "COPY --from=build /out/infraflow-worker", "ENTRYPOINT [\"infraflow-worker\""} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("worker/Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(froms[len(froms)-1][1], "golang") {
		t.Errorf("the run stage is %s: the Go toolchain should stay in the build stage", froms[len(froms)-1][1])
	}
}
