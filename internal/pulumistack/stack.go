// Package pulumistack runs infraflow's Pulumi programs through the Automation
// API on a file backend, and recovers a stack that a killed run left behind.
package pulumistack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	resourceconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks/aws"
	"github.com/infraflow/infraflow/stacks/kubernetes"
	"github.com/infraflow/infraflow/stacks/local"
)

// programs maps catalog names (stacks.Catalog) to their Pulumi programs.
// aws and kubernetes use explicit providers configured from their own
// catalog keys (region; kubeconfig and context), so the infraflow:* values
// Open sets for the local program are simply unused by them.
var programs = map[string]pulumi.RunFunc{
	"local":         local.Program,
	aws.Name:        aws.Program,
	kubernetes.Name: kubernetes.Program,
}

// Env is where stacks keep their state and what the local program needs.
type Env struct {
	// StateDir is this worker's own: the SSH hosts of local stacks (hosts/),
	// and with no Backend the file backend (state/) and, with no
	// Passphrase, the passphrase file --dev makes.
	StateDir string
	// Kubeconfig is the local control plane's kubeconfig (infraflow:kubeconfig).
	Kubeconfig string
	// Backend is where every stack's state, locks, history and saved plans
	// live, as `pulumi login` takes it: file://DIR (one machine) or
	// postgres://... (every worker that reaches the database). Empty:
	// file://<StateDir>/state.
	Backend string
	// Passphrase encrypts secrets in the state. Workers sharing a backend
	// must share it. Empty: $PULUMI_CONFIG_PASSPHRASE, else a passphrase
	// kept in <StateDir>/passphrase, made on first use (--dev).
	Passphrase string
	// Site names where this worker runs: local stacks are placed at the
	// site of the worker that creates them, where their hosts live (Place).
	Site string
}

func (e Env) backendURL() string {
	if e.Backend != "" {
		return e.Backend
	}
	return "file://" + filepath.Join(e.StateDir, "state")
}

// projectOf is the Pulumi project of a program's stacks.
func projectOf(ref stackop.Ref) string {
	return "infraflow-" + ref.Program
}

// Open selects (creating if needed) the stack and sets its configuration:
// the program's values plus the provider settings infraflow manages. Close
// the stack when done: its workspace is a directory of its own.
func (e Env) Open(ctx context.Context, ref stackop.Ref, config map[string]any) (auto.Stack, error) {
	program, ok := programs[ref.Program]
	if !ok {
		return auto.Stack{}, fmt.Errorf("no Pulumi program %q in this worker", ref.Program)
	}
	if err := e.claimSite(ctx, ref); err != nil {
		return auto.Stack{}, err
	}
	backend := e.backendURL()
	if e.Backend == "" {
		if err := os.MkdirAll(filepath.Join(e.StateDir, "state"), 0o700); err != nil {
			return auto.Stack{}, err
		}
	}
	passphrase, err := e.passphrase()
	if err != nil {
		return auto.Stack{}, err
	}
	project := workspace.Project{
		Name:    tokens.PackageName("infraflow-" + ref.Program),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
		Backend: &workspace.ProjectBackend{URL: backend},
	}
	cli, err := pulumiCLI()
	if err != nil {
		return auto.Stack{}, err
	}
	workDir, err := os.MkdirTemp("", "infraflow-pulumi-")
	if err != nil {
		return auto.Stack{}, err
	}
	stack, err := auto.UpsertStackInlineSource(ctx, ref.Stack, project.Name.String(), program,
		auto.WorkDir(workDir),
		auto.Pulumi(cli),
		auto.Project(project),
		auto.EnvVars(map[string]string{
			"PULUMI_CONFIG_PASSPHRASE":                    passphrase,
			"PULUMI_SKIP_UPDATE_CHECK":                    "true",
			"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
			"PULUMI_BACKEND_URL":                          backend,
		}))
	if err != nil {
		_ = os.RemoveAll(workDir)
		return auto.Stack{}, fmt.Errorf("opening stack %s: %w", ref, err)
	}
	// The configuration goes straight into the workspace's stack settings
	// file: `pulumi config set-all` would write the same file, at the cost of
	// a CLI run (most of a CPU-second) in every activity. The file `stack
	// init` wrote keeps what it holds (the secrets provider's salt).
	settings, err := stack.Workspace().StackSettings(ctx, ref.Stack)
	if err != nil {
		settings = &workspace.ProjectStack{}
	}
	settings.Config = resourceconfig.Map{}
	values := map[string]string{
		"infraflow:kubeconfig": e.Kubeconfig,
		"infraflow:stateDir":   filepath.Join(e.StateDir, "hosts"),
	}
	// The request as given, with its JSON types: Pulumi's update history
	// keeps it, so any worker finds the last good configuration (lastgood.go).
	request, err := json.Marshal(config)
	if err != nil {
		Close(stack)
		return auto.Stack{}, fmt.Errorf("config of %s: %w", ref, err)
	}
	values[requestKey] = string(request)
	for k, v := range config {
		values[k] = fmt.Sprint(v)
	}
	for k, v := range values {
		key, err := configKey(project.Name.String(), k)
		if err != nil {
			Close(stack)
			return auto.Stack{}, fmt.Errorf("config of %s: %w", ref, err)
		}
		settings.Config[key] = resourceconfig.NewValue(v)
	}
	if err := stack.Workspace().SaveStackSettings(ctx, ref.Stack, settings); err != nil {
		Close(stack)
		return auto.Stack{}, fmt.Errorf("setting config of %s: %w", ref, err)
	}
	return stack, nil
}

// configKey reads a key as `pulumi config set` does: a bare name belongs to
// the project.
func configKey(project, k string) (resourceconfig.Key, error) {
	if !strings.Contains(k, ":") {
		k = project + ":" + k
	}
	key, err := resourceconfig.ParseKey(k)
	if err != nil {
		return key, fmt.Errorf("key %q: %w", k, err)
	}
	return key, nil
}

// Close removes the stack's workspace directory (project and stack settings;
// the state is in the backend). Every Open made one under the temporary
// directory, and workers left thousands behind.
func Close(stack auto.Stack) {
	if ws := stack.Workspace(); ws != nil && ws.WorkDir() != "" {
		_ = os.RemoveAll(ws.WorkDir())
	}
}

var (
	cliMu sync.Mutex
	cli   auto.PulumiCommand
)

// pulumiCLI finds the pulumi CLI on PATH and checks its version once per
// process: a workspace left to do it runs `pulumi version` for every activity
// (half a CPU-second each). A failure is not kept, so a CLI installed later
// is found.
func pulumiCLI() (auto.PulumiCommand, error) {
	cliMu.Lock()
	defer cliMu.Unlock()
	if cli != nil {
		return cli, nil
	}
	found, err := newDyingCLI()
	if err != nil {
		return nil, fmt.Errorf("the pulumi CLI: %w (run `make tools`)", err)
	}
	cli = found
	return cli, nil
}

// passphrase encrypts secrets in the file backend; it is created once and
// kept beside the state, as a real deployment keeps it in a secret store.
func (e Env) passphrase() (string, error) {
	if e.Passphrase != "" {
		return e.Passphrase, nil
	}
	if p := os.Getenv("PULUMI_CONFIG_PASSPHRASE"); p != "" {
		return p, nil
	}
	path := filepath.Join(e.StateDir, "passphrase")
	data, err := os.ReadFile(path)
	if err == nil {
		return string(data), nil
	}
	if !os.IsNotExist(err) {
		return "", err
	}
	secret := randomSuffix()
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		return "", err
	}
	return secret, nil
}

// ErrNoStack is returned for a stack that was never created.
var ErrNoStack = errors.New("no such stack")

// Exists reports whether the stack was ever created, from the backend's
// blobs alone: asking the CLI would create it.
func (e Env) Exists(ctx context.Context, ref stackop.Ref) (bool, error) {
	names, err := e.Stacks(ctx, ref.Program)
	return slices.Contains(names, ref.Stack), err
}

// Stacks lists the program's stacks, sorted.
func (e Env) Stacks(ctx context.Context, program string) ([]string, error) {
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return nil, err
	}
	// DIY backend layout: .pulumi/stacks/<project>/<stack>.json (gzipped:
	// .json.gz; .json.bak is a backup, .attrs and .pulumi-tags are not stacks).
	prefix := ".pulumi/stacks/" + projectOf(stackop.Ref{Program: program}) + "/"
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range keys {
		base := strings.TrimPrefix(k, prefix)
		for _, ext := range []string{".json", ".json.gz"} {
			if name, ok := strings.CutSuffix(base, ext); ok && !strings.Contains(name, "/") && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// Outputs returns the current outputs of an existing stack from its state in
// the backend, without running its program or the CLI. Secrets read
// "[secret]".
func (e Env) Outputs(ctx context.Context, ref stackop.Ref) (map[string]any, error) {
	if ok, err := e.Exists(ctx, ref); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoStack, ref)
	}
	dep, err := e.readDeployment(ctx, ref)
	if err != nil {
		return nil, err
	}
	outputs := map[string]any{}
	for _, r := range dep.Resources {
		if r.Type != "pulumi:pulumi:Stack" {
			continue
		}
		for k, v := range r.Outputs {
			if m, ok := v.(map[string]any); ok && m[secretSignature] == secretSignatureValue {
				v = "[secret]"
			}
			outputs[k] = v
		}
	}
	return outputs, nil
}

// The marker of a secret value in a checkpoint (sdk/go/common/resource/sig).
const (
	secretSignature      = "4dabf18193072939515e22adb298388d"
	secretSignatureValue = "1b47061264138c4ac30d75fd1eb44270"
)
