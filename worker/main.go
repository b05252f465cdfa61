// Command worker runs infraflow's Temporal worker. With --dev it first starts
// the local platform in the same process: a Temporal server on a SQLite file
// and the Web UI.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/ansiblerun"
	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/chatops"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/metrics"
	"github.com/infraflow/infraflow/internal/payloadcodec"
	"github.com/infraflow/infraflow/internal/pulumistack"
	"github.com/infraflow/infraflow/internal/scratch"
	"github.com/infraflow/infraflow/internal/temporalclient"
	"github.com/infraflow/infraflow/workflows"
)

type options struct {
	conn           temporalclient.Connection
	taskQueue      string
	metricsAddress string
	toolsDir       string
	playbooksDir   string
	secretRoots    []string
	secretEnv      []string

	directoryFile  string
	chatWebhookURL string
	chatAddress    string
	chatSecretFile string
	// chatRelayKeyFile is the chat server's own signing key.
	chatRelayKeyFile string
	chatRelayNote    string
	signatureNote    string

	kubeconfig string

	scaling     scalingOptions
	chaos       chaosOptions
	stickyCache stickyCache

	dev             bool
	dataDir         string
	temporalDB      string
	frontendAddress string
	uiAddress       string
	kubeAddress     string
	codecAddress    string

	deploymentName string
	buildID        string

	// pulumiBackend is where stack state lives (file://, postgres://); empty:
	// the file backend under --data-dir.
	pulumiBackend        string
	pulumiPassphraseFile string
	// site names this worker's place for host-bound work (the local
	// stacks' hosts): it polls <task-queue>@<site> besides the shared queue.
	site string
	// engineSlots bounds the stack operations run at once on each engine
	// queue (the site's, the shared engine queue).
	engineSlots int

	// Filled in by run for the banner.
	codec    payloadcodec.Resolved
	codecURL string
	// postgres is --temporal-db parsed: nil keeps the server on SQLite.
	postgres *localenv.PostgresDB
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run infraflow's Temporal worker (with --dev: the whole local platform)",
		Example: `  worker --dev                                   # local platform: server + Web UI + worker
  TEMPORAL_ADDRESS=temporal.example.com:7233 worker   # worker against a cluster
  worker --address my-ns.a1b2c.tmprl.cloud:7233 --namespace my-ns.a1b2c \
         --tls-cert-path client.pem --tls-key-path client.key`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.stickyCache.apply(cmd.Flags().Changed("sticky-cache-size")); err != nil {
				return err
			}
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.conn.AddFlags(f)
	f.StringVar(&o.taskQueue, "task-queue", envOr("INFRAFLOW_TASK_QUEUE", "infraflow"), "task queue to poll (env INFRAFLOW_TASK_QUEUE)")
	f.StringVar(&o.metricsAddress, "metrics-address", envOr("INFRAFLOW_METRICS_ADDRESS", "127.0.0.1:9464"), "serve Prometheus metrics on host:port; empty disables (env INFRAFLOW_METRICS_ADDRESS)")
	f.StringVar(&o.toolsDir, "tools-dir", envOr("INFRAFLOW_TOOLS_DIR", ".infraflow/bin"), "directory of tools built by `make tools`, put first on PATH when it exists")
	f.StringVar(&o.playbooksDir, "playbooks-dir", envOr("INFRAFLOW_PLAYBOOKS_DIR", "playbooks"), "directory of the playbooks ConfigureHosts runs by relative name (env INFRAFLOW_PLAYBOOKS_DIR)")
	f.StringSliceVar(&o.secretRoots, "secret-root", envList("INFRAFLOW_SECRET_ROOTS", ":"), "file or directory that secret references and host key files may point into; repeat for more (env INFRAFLOW_SECRET_ROOTS, ':'-separated; --dev default: <data-dir>/secrets)")
	f.StringSliceVar(&o.secretEnv, "secret-env", envList("INFRAFLOW_SECRET_ENV", ","), "environment variable that secret references may name; repeat for more (env INFRAFLOW_SECRET_ENV, ','-separated)")
	f.StringVar(&o.directoryFile, "directory", os.Getenv("INFRAFLOW_DIRECTORY"), "directory file mapping people to groups and chat IDs (env INFRAFLOW_DIRECTORY; --dev default: the built-in example)")
	f.StringVar(&o.chatWebhookURL, "chat-webhook-url", os.Getenv("INFRAFLOW_CHAT_WEBHOOK_URL"), "Slack incoming-webhook URL for approval requests, reminders and outcomes (env INFRAFLOW_CHAT_WEBHOOK_URL)")
	f.StringVar(&o.chatAddress, "chat-address", os.Getenv("INFRAFLOW_CHAT_ADDRESS"), "serve the chat ops endpoint (Slack slash commands and buttons) on host:port (env INFRAFLOW_CHAT_ADDRESS; --dev default 127.0.0.1:8234)")
	f.StringVar(&o.chatSecretFile, "chat-signing-secret-file", "", "file holding the Slack signing secret when "+chatops.SigningSecretEnv+" is unset (--dev default: <data-dir>/chat-signing-secret, created if missing)")
	f.StringVar(&o.chatRelayKeyFile, "chat-relay-key", os.Getenv("INFRAFLOW_CHAT_RELAY_KEY"), "the chat server's Ed25519 key, which signs the decisions it verified; the directory lists its public key under relays (env INFRAFLOW_CHAT_RELAY_KEY; default <data-dir>/chat-relay-key, created if missing)")
	f.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("INFRAFLOW_KUBECONFIG"), "kubeconfig the local stack deploys to (env INFRAFLOW_KUBECONFIG; --dev default: the local control plane's)")
	f.StringVar(&o.kubeAddress, "kube-address", "127.0.0.1:6443", "with --dev: the local Kubernetes API server's address; empty leaves the local control plane out (the local stack then needs --kubeconfig)")
	o.scaling.addFlags(f)
	o.chaos.addFlags(f)
	o.stickyCache.addFlags(f)
	f.StringVar(&o.deploymentName, "deployment-name", os.Getenv("INFRAFLOW_DEPLOYMENT_NAME"), "Worker Deployment this worker belongs to; with --build-id, the worker is versioned and the server routes each workflow by its versioning behavior (env INFRAFLOW_DEPLOYMENT_NAME)")
	f.StringVar(&o.buildID, "build-id", os.Getenv("INFRAFLOW_BUILD_ID"), "this release's build ID within --deployment-name (env INFRAFLOW_BUILD_ID)")
	// Not defaulted from the environment here: --help would print its password.
	f.StringVar(&o.pulumiBackend, "pulumi-backend", "", "where every stack's state, locks, history and saved plans live, as pulumi login takes it: postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=... to share them between workers, or file:///DIR for one machine; empty: file backend under --data-dir (env INFRAFLOW_PULUMI_BACKEND)")
	f.StringVar(&o.pulumiPassphraseFile, "pulumi-passphrase-file", os.Getenv("PULUMI_CONFIG_PASSPHRASE_FILE"), "file holding the passphrase that encrypts secrets in stack state; every worker of a backend needs the same one; or set PULUMI_CONFIG_PASSPHRASE (--dev default: <data-dir>/pulumi/passphrase, created if missing) (env PULUMI_CONFIG_PASSPHRASE_FILE)")
	f.StringVar(&o.site, "site", os.Getenv("INFRAFLOW_SITE"), "this worker's site: host-bound work (local stacks' hosts live on one machine) is routed to the task queue <task-queue>@<site>; default: the host name and a digest of --data-dir, so two workers share a site only if they share the machine and the data dir (env INFRAFLOW_SITE)")
	f.IntVar(&o.engineSlots, "engine-slots", envInt("INFRAFLOW_ENGINE_SLOTS", 2), "stack operations (Pulumi runs: minutes and about a CPU each) this worker runs at once per engine queue, <task-queue>@<site> and <task-queue>-engine; more wait in the queue for a free slot here or another worker, and never hold the slots of short activities (env INFRAFLOW_ENGINE_SLOTS)")
	f.BoolVar(&o.dev, "dev", false, "start the local platform (Temporal server on SQLite, or PostgreSQL with --temporal-db, + Web UI) in this process")
	f.StringVar(&o.dataDir, "data-dir", ".infraflow", "local state: the SQLite database and server log (--dev), the chat ops audit log")
	// Not defaulted from the environment here: --help would print its password.
	f.StringVar(&o.temporalDB, "temporal-db", "", "with --dev: keep the embedded server's persistence and visibility in PostgreSQL, postgres://USER[:PASSWORD]@HOST:PORT/DATABASE (visibility in DATABASE_visibility; both created and their schemas set up or updated at start); empty: SQLite in --data-dir (env INFRAFLOW_TEMPORAL_DB)")
	f.StringVar(&o.frontendAddress, "frontend-address", temporalclient.DefaultAddress, "with --dev: Temporal frontend gRPC address")
	f.StringVar(&o.uiAddress, "ui-address", "127.0.0.1:8233", "with --dev: Web UI address; empty disables the UI")
	f.StringVar(&o.codecAddress, "codec-address", "127.0.0.1:8235", "with --dev: serve the payload codec endpoint the Web UI and `temporal --codec-endpoint` decode with on host:port; empty disables")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

// deployment makes the worker a versioned member of a Worker Deployment when
// both its name and the build ID are given; each workflow declares how its
// runs move between builds (workflows.Definition.Versioning).
func (o options) deployment() worker.DeploymentOptions {
	if o.deploymentName == "" || o.buildID == "" {
		return worker.DeploymentOptions{}
	}
	return worker.DeploymentOptions{
		UseVersioning: true,
		Version:       worker.WorkerDeploymentVersion{DeploymentName: o.deploymentName, BuildID: o.buildID},
	}
}

func run(ctx context.Context, o options) error {
	if o.engineSlots < 1 {
		return fmt.Errorf("--engine-slots is %d: give at least 1 (stack operations run at most that many at once per engine queue)", o.engineSlots)
	}
	if (o.deploymentName == "") != (o.buildID == "") {
		return errors.New("--deployment-name and --build-id go together: give both to run a versioned worker, or neither")
	}
	if o.temporalDB == "" {
		o.temporalDB = os.Getenv("INFRAFLOW_TEMPORAL_DB")
	}
	if o.temporalDB != "" {
		if !o.dev {
			return errors.New("--temporal-db (INFRAFLOW_TEMPORAL_DB) chooses the database of --dev's embedded server: add --dev, or drop it and give the cluster's address with --address")
		}
		var err error
		if o.postgres, err = localenv.ParsePostgresURL(o.temporalDB); err != nil {
			return fmt.Errorf("--temporal-db (INFRAFLOW_TEMPORAL_DB): %w; or leave it empty for SQLite in --data-dir", err)
		}
	}
	if o.pulumiBackend == "" {
		o.pulumiBackend = os.Getenv("INFRAFLOW_PULUMI_BACKEND")
	}
	if o.pulumiBackend != "" {
		if _, err := pulumistack.ParseBackend(o.pulumiBackend); err != nil {
			return fmt.Errorf("--pulumi-backend (INFRAFLOW_PULUMI_BACKEND): %w", err)
		}
	}
	if err := putToolsOnPath(o.toolsDir); err != nil {
		return err
	}
	// Paths go into configs read from other directories (kubeconfig, Pulumi's
	// provider plugin), so they must not depend on this process's cwd.
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", o.dataDir, err)
	}
	o.dataDir = dataDir
	// Temporary files (Pulumi workspaces and plans, Ansible inventories, and
	// those of the tools this process starts) go to a directory of this
	// process, which the next worker to start removes if this one is killed.
	tmp, removed, err := scratch.Claim(filepath.Join(o.dataDir, "tmp"))
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if len(removed) > 0 {
		fmt.Printf("infraflow: removed the temporary files of %d worker processes that died\n", len(removed))
	}
	if err := os.Setenv("TMPDIR", tmp); err != nil {
		return err
	}
	passphrase, err := pulumiPassphrase(o)
	if err != nil {
		return err
	}
	if o.site == "" {
		o.site = defaultSite(o.dataDir)
	}
	if o.dev && o.chatSecretFile == "" {
		o.chatSecretFile = filepath.Join(o.dataDir, "chat-signing-secret")
	}
	if o.dev {
		// The local platform encrypts like any other: with the keys given, or
		// with a key file of its own, made on first start.
		o.conn.Encryption.FallbackFile = filepath.Join(o.dataDir, "codec-keys")
		o.conn.Encryption.CreateFallback = true
	}
	clientOpts, codec, err := o.conn.OptionsWithCodec()
	if err != nil {
		return err
	}
	o.codec = codec
	if codec.Codec == nil {
		fmt.Fprint(os.Stderr, insecureWarning)
	}

	if o.dev {
		if o.conn.Address != "" || os.Getenv("TEMPORAL_ADDRESS") != "" {
			return errors.New("--dev runs its own server: drop --address/TEMPORAL_ADDRESS, or drop --dev to use that cluster")
		}
		if codec.Codec != nil && o.codecAddress != "" {
			codecServer, err := payloadcodec.Serve(o.codecAddress, codec.Codec, payloadcodec.HandlerOptions{AllowedOrigins: webUIOrigins(o.uiAddress)})
			if err != nil {
				return fmt.Errorf("%w (choose another with --codec-address)", err)
			}
			defer codecServer.Close()
			o.codecURL = codecServer.URL
		}
		server, err := localenv.StartTemporal(localenv.Options{
			DataDir:         o.dataDir,
			Postgres:        o.postgres,
			FrontendAddress: o.frontendAddress,
			UIAddress:       o.uiAddress,
			Namespace:       clientOpts.Namespace,
			CodecEndpoint:   o.codecURL,
		})
		if err != nil {
			return err
		}
		// Deferred first, so it runs last: the worker stops before the server.
		defer func() {
			fmt.Println("infraflow: server stopped")
			server.Stop()
		}()
		clientOpts.HostPort = o.frontendAddress

		kube, err := startKubernetes(ctx, o)
		switch {
		case kube == nil && err == nil:
			fmt.Println("infraflow: local Kubernetes left out (--kube-address is empty)")
		case errors.Is(err, localenv.ErrBinariesMissing):
			fmt.Printf("infraflow: local Kubernetes not started: %v\n", err)
		case err != nil:
			return err
		default:
			defer func() {
				fmt.Println("infraflow: local Kubernetes stopped")
				kube.Stop()
			}()
			if o.kubeconfig == "" {
				o.kubeconfig = kube.Kubeconfig
			}
		}
	}

	if clientOpts.Identity == "" {
		// The SDK's default (pid@host@) plus the site, so that a history says
		// which worker of which site ran each activity.
		host, _ := os.Hostname()
		clientOpts.Identity = fmt.Sprintf("%d@%s@%s", os.Getpid(), host, o.site)
	}
	metricsHostPort := o.metricsAddress
	if o.metricsAddress != "" {
		m, err := metrics.Serve(o.metricsAddress)
		if err != nil {
			return err
		}
		defer m.Close()
		clientOpts.MetricsHandler = m.Handler
		o.metricsAddress = m.URL
	}
	c, err := temporalclient.DialOptions(clientOpts)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := ensureSearchAttributes(ctx, c, clientOpts.Namespace); err != nil {
		return err
	}
	dir, err := loadDirectory(o)
	if err != nil {
		return err
	}
	if o.dev && o.chatAddress == "" {
		o.chatAddress = "127.0.0.1:8234"
	}
	var relayKey ed25519.PrivateKey
	if o.chatAddress != "" {
		if relayKey, dir, o.chatRelayNote, err = chatRelay(o, dir); err != nil {
			return err
		}
	}
	o.signatureNote = signatureNote(dir)

	w := worker.New(c, o.taskQueue, worker.Options{DeploymentOptions: o.deployment()})
	workflows.Register(w)
	playbooks, err := filepath.Abs(o.playbooksDir)
	if err != nil {
		return fmt.Errorf("playbooks dir %s: %w", o.playbooksDir, err)
	}
	o.playbooksDir = playbooks
	secretRoots, err := resolveSecretRoots(&o)
	if err != nil {
		return err
	}
	scaleOpts := o
	scaleOpts.metricsAddress = metricsHostPort
	scale, scaleBanner, stopScaling, err := startScaling(ctx, scaleOpts)
	defer stopScaling()
	if err != nil {
		return err
	}
	chaos, chaosBanner, stopChaos, err := startChaos(ctx, o)
	defer stopChaos()
	if err != nil {
		return err
	}
	scaleBanner = append(scaleBanner, chaosBanner...)
	acts := &activities.Activities{Temporal: c, Identity: clientOpts.Identity, Directory: dir, ChatWebhookURL: o.chatWebhookURL,
		Pulumi: pulumistack.Env{StateDir: filepath.Join(o.dataDir, "pulumi"), Kubeconfig: o.kubeconfig,
			Backend: o.pulumiBackend, Passphrase: passphrase, Site: o.site},
		PlaybooksDir: playbooks, SecretRoots: secretRoots, Scale: scale, Chaos: chaos}
	activities.Register(w, acts)
	// Stack operations come on queues of their own, served with few slots:
	// the site's (samples-go's worker-specific task queue: host-bound work
	// only this machine can do) and the engine queue (any worker's).
	engineQueues := []string{activities.SiteQueue(o.taskQueue, o.site), activities.EngineQueue(o.taskQueue)}
	workers := []worker.Worker{w}
	for _, q := range engineQueues {
		ew := worker.New(c, q, worker.Options{DeploymentOptions: o.deployment(), MaxConcurrentActivityExecutionSize: o.engineSlots})
		activities.Register(ew, acts)
		workers = append(workers, ew)
	}
	for i, each := range workers {
		if err := each.Start(); err != nil {
			for _, started := range workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("starting the worker of task queue %q: %w", append([]string{o.taskQueue}, engineQueues...)[i], err)
		}
	}
	defer func() {
		for _, each := range workers[1:] {
			each.Stop()
		}
	}()
	if o.chatAddress != "" {
		stopChat, err := serveChat(o, c, clientOpts.Namespace, dir, relayKey)
		if err != nil {
			w.Stop()
			return err
		}
		defer stopChat()
	}
	printBanner(o, clientOpts)
	for _, line := range scaleBanner {
		fmt.Println("  " + line)
	}
	<-ctx.Done()
	fmt.Println("\ninfraflow: stopping worker")
	w.Stop()
	return nil
}

// startKubernetes starts the local control plane unless --kube-address is
// empty: a platform for approvals alone has no use for five more processes.
func startKubernetes(ctx context.Context, o options) (*localenv.Kubernetes, error) {
	if o.kubeAddress == "" {
		return nil, nil
	}
	return localenv.StartKubernetes(ctx, localenv.KubernetesOptions{
		DataDir:          filepath.Join(o.dataDir, "kube"),
		APIServerAddress: o.kubeAddress,
	})
}

func loadDirectory(o options) (*directory.Directory, error) {
	switch {
	case o.directoryFile != "":
		return directory.Load(o.directoryFile)
	case o.dev:
		return directory.Example(), nil
	default:
		// Without a directory, approvals can name people but not groups.
		return &directory.Directory{}, nil
	}
}

// serveChat runs the chat ops endpoint beside the worker.
func serveChat(o options, c client.Client, namespace string, dir *directory.Directory, relayKey ed25519.PrivateKey) (stop func(), err error) {
	secret, err := chatops.SigningSecret(o.chatSecretFile, o.dev)
	if err != nil {
		return nil, err
	}
	return approvals.ServeChat(&approvals.Client{Temporal: c, Namespace: namespace},
		approvals.ChatOptions{Address: o.chatAddress, Secret: secret, Directory: dir, DataDir: o.dataDir, RelayKey: relayKey})
}

// putToolsOnPath lets activities find the pinned tools `make tools` built
// without each person editing their PATH.
func putToolsOnPath(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("tools dir %s: %w", dir, err)
	}
	return os.Setenv("PATH", abs+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func printBanner(o options, c client.Options) {
	fmt.Println("infraflow worker is running")
	if o.dev {
		if o.uiAddress != "" {
			fmt.Printf("  Web UI:      http://%s/namespaces/%s/workflows\n", o.uiAddress, c.Namespace)
		}
		if o.postgres != nil {
			fmt.Printf("  Temporal DB: PostgreSQL %s\n", o.postgres)
			fmt.Printf("  Data:        %s (server.log)\n", o.dataDir)
		} else {
			fmt.Printf("  Data:        %s (SQLite temporal.db, server.log)\n", o.dataDir)
		}
	}
	fmt.Printf("  Temporal:    %s, namespace %s\n", c.HostPort, c.Namespace)
	fmt.Printf("  Task queue:  %s; stack operations (%d at a time on each): %s (this site's), %s\n", o.taskQueue, o.engineSlots,
		activities.SiteQueue(o.taskQueue, o.site), activities.EngineQueue(o.taskQueue))
	if o.pulumiBackend != "" {
		fmt.Printf("  Stacks:      %s (shared state)\n", pulumistack.RedactBackend(o.pulumiBackend))
	} else {
		fmt.Printf("  Stacks:      %s (file backend: this machine only)\n", filepath.Join(o.dataDir, "pulumi", "state"))
	}
	fmt.Printf("  Cache:       %d workflows kept in memory between tasks (--sticky-cache-size)\n", o.stickyCache.size)
	if o.metricsAddress != "" {
		fmt.Printf("  Metrics:     %s\n", o.metricsAddress)
	}
	if o.kubeconfig != "" {
		fmt.Printf("  Kubernetes:  export KUBECONFIG=%s\n", o.kubeconfig)
	}
	fmt.Printf("  Playbooks:   %s (only these run)\n", o.playbooksDir)
	fmt.Printf("  Secrets:     %s\n", ansiblerun.SecretRoots{Paths: o.secretRoots, Env: o.secretEnv})
	printEncryption(o)
	if o.chatAddress != "" {
		fmt.Printf("  Chat ops:    http://%s%s and %s (Slack signing secret: %s)\n", o.chatAddress, chatops.CommandsPath, chatops.InteractivePath, secretSource(o))
		fmt.Printf("  Chat relay:  %s\n", o.chatRelayNote)
	}
	fmt.Printf("  Signatures:  %s\n", o.signatureNote)
	fmt.Println("Launch a workflow:")
	if o.dev && o.codecAddress != "" {
		// Payloads are encrypted: without the codec endpoint the CLI shows ciphertext.
		fmt.Printf("  export TEMPORAL_CODEC_ENDPOINT=http://%s\n", o.codecAddress)
	}
	fmt.Printf("  temporal workflow start --address %s --type PlatformCheck --task-queue %s --input '{}'\n", c.HostPort, o.taskQueue)
	fmt.Println("  go run ./starter doctor")
	fmt.Println("Ctrl-C stops the worker, then the server.")
}

// insecureWarning is printed when a worker runs without payload encryption.
const insecureWarning = `
!!! infraflow: PAYLOAD ENCRYPTION IS OFF (--insecure-no-codec).
!!! Workflow inputs, results, signals and activity arguments are stored in PLAIN TEXT
!!! on the Temporal server. Give the worker its keys with --codec-keys FILE instead.
`

func printEncryption(o options) {
	c := o.codec.Codec
	if c == nil {
		fmt.Println("  Encryption:  OFF (--insecure-no-codec): payloads are stored in plain text")
		return
	}
	fmt.Printf("  Encryption:  AES-256-GCM, new payloads with key %q; keys %s from %s\n", c.EncryptKeyID(), strings.Join(c.KeyIDs(), ", "), c.Source())
	if o.codec.Created {
		fmt.Println("               (key file created now: keep it; payloads encrypted with it cannot be read without it)")
	}
	if o.codecURL != "" {
		fmt.Printf("  Codec:       %s (the Web UI decodes with it; temporal workflow show --codec-endpoint %s ...)\n", o.codecURL, o.codecURL)
	}
}

// webUIOrigins are the origins a browser reports for the local Web UI: the
// address as given, and localhost for 127.0.0.1 (people type either).
func webUIOrigins(uiAddress string) []string {
	if uiAddress == "" {
		return nil
	}
	origins := []string{"http://" + uiAddress}
	if port, ok := strings.CutPrefix(uiAddress, "127.0.0.1:"); ok {
		origins = append(origins, "http://localhost:"+port)
	}
	return origins
}

func secretSource(o options) string {
	if os.Getenv(chatops.SigningSecretEnv) != "" {
		return "$" + chatops.SigningSecretEnv
	}
	return o.chatSecretFile
}

// resolveSecretRoots makes the roots absolute; --dev without roots gets
// <data-dir>/secrets, created private.
func resolveSecretRoots(o *options) (ansiblerun.SecretRoots, error) {
	if o.dev && len(o.secretRoots) == 0 {
		dir := filepath.Join(o.dataDir, "secrets")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return ansiblerun.SecretRoots{}, fmt.Errorf("secret root %s: %w", dir, err)
		}
		o.secretRoots = []string{dir}
	}
	roots := ansiblerun.SecretRoots{Env: o.secretEnv}
	for _, r := range o.secretRoots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return roots, fmt.Errorf("--secret-root %s: %w", r, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return roots, fmt.Errorf("--secret-root %s: %w (create it, or drop the flag)", r, err)
		}
		roots.Paths = append(roots.Paths, abs)
	}
	o.secretRoots = roots.Paths
	return roots, nil
}

func envList(key, sep string) []string {
	var list []string
	for _, item := range strings.Split(os.Getenv(key), sep) {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list
}

func envInt(key string, fallback int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return fallback
}

func envOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}
