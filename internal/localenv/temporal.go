// Package localenv runs infraflow's local platform in-process: a Temporal
// server on a SQLite file (history survives restarts) or on PostgreSQL, and
// the Temporal Web UI; and the local infrastructure beside it.
package localenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options say where the local Temporal server keeps its data and listens.
type Options struct {
	// DataDir holds temporal.db (the SQLite persistence) and server.log.
	DataDir string
	// Postgres, when set, holds persistence and visibility instead of
	// DataDir/temporal.db; the schemas are set up or updated at start.
	Postgres *PostgresDB
	// FrontendAddress is the gRPC frontend, host:port.
	FrontendAddress string
	// UIAddress is the Web UI, host:port; empty runs no UI.
	UIAddress string
	// Namespace is created on first start.
	Namespace string
	// CodecEndpoint is the remote codec the Web UI asks to decode payloads
	// (infraflow encrypts them); empty shows payloads as stored.
	CodecEndpoint string
}

// Temporal is a running in-process Temporal server with its Web UI.
type Temporal struct {
	server temporal.Server
	ui     *uiserver.Server
	// uiDone reports the UI server's exit; its Start blocks until Stop.
	uiDone chan error
	// unlock releases the PostgreSQL database's lock (nil on SQLite).
	unlock func()
}

const clusterName = "active"

// StartTemporal starts the server and waits until its frontend accepts
// connections. The server logs to DataDir/server.log, not the terminal.
func StartTemporal(opts Options) (*Temporal, error) {
	frontendHost, frontendPort, err := splitHostPort(opts.FrontendAddress, "frontend address")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating data dir %s: %w", opts.DataDir, err)
	}
	// Fail with a clear message before the server's own, far noisier, bind error.
	for _, addr := range []string{opts.FrontendAddress, opts.UIAddress} {
		if addr == "" {
			continue
		}
		if err := portFree(addr); err != nil {
			return nil, err
		}
	}

	logPath := filepath.Join(opts.DataDir, "server.log")
	logger := serverLogger(logPath)
	stores, err := chooseStores(opts, logger)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started && stores.unlock != nil {
			stores.unlock()
		}
	}()
	conf, err := serverConfig(frontendHost, frontendPort, stores)
	if err != nil {
		return nil, err
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(conf)),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("building temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("starting temporal server (log: %s): %w", logPath, err)
	}
	started = true
	t := &Temporal{server: server, unlock: stores.unlock}
	if opts.Postgres != nil {
		// The SQLite store is given its namespace before start; on PostgreSQL
		// it is registered through the API, as on any cluster.
		if err := registerNamespace(opts.FrontendAddress, opts.Namespace); err != nil {
			t.Stop()
			return nil, err
		}
	}
	if opts.UIAddress != "" {
		if err := t.startUI(opts); err != nil {
			t.Stop()
			return nil, err
		}
	}
	return t, nil
}

// Stop stops the UI, then the server.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
		<-t.uiDone
	}
	_ = t.server.Stop()
	if t.unlock != nil {
		t.unlock()
	}
}

func (t *Temporal) startUI(opts Options) error {
	uiAddress := opts.UIAddress
	host, port, err := splitHostPort(uiAddress, "UI address")
	if err != nil {
		return err
	}
	t.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: opts.FrontendAddress,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		// The browser calls the codec endpoint itself, with credentials, so the
		// endpoint's CORS policy must name this UI's origin exactly.
		Codec:    uiconfig.Codec{Endpoint: opts.CodecEndpoint, IncludeCredentials: opts.CodecEndpoint != ""},
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
		// The machine may have no internet; the UI must not try to fetch news.
		DisableNewsFetch: true,
	}))
	t.uiDone = make(chan error, 1)
	go func() { t.uiDone <- t.ui.Start() }()
	// Start blocks while serving, so readiness is "it is accepting connections".
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-t.uiDone:
			t.ui = nil
			return fmt.Errorf("starting the web UI on %s: %w", uiAddress, err)
		default:
		}
		if conn, err := net.DialTimeout("tcp", uiAddress, 200*time.Millisecond); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the web UI did not start listening on %s within 10s", uiAddress)
}

func sqliteStore(dbFile, namespace string) (*config.SQL, error) {
	conf := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbFile,
		// Every attribute but mode is passed to SQLite as a pragma under its own
		// name: write-ahead log, fsync at every commit (history must survive a
		// kill -9 or power loss), and wait rather than fail on a busy database.
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "full", "busy_timeout": "10000"},
	}
	if _, err := os.Stat(dbFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(conf); err != nil {
			// A half-created file would make every later start fail the same way.
			_ = os.Remove(dbFile)
			return nil, fmt.Errorf("creating the SQLite schema in %s: %w", dbFile, err)
		}
	}
	// Custom search attributes are added through the operator API after start
	// (the worker's ensureSearchAttributes), the same way as on any cluster.
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("preparing namespace %q: %w", namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("creating namespace %q in %s: %w", namespace, dbFile, err)
	}
	return conf, nil
}

// stores are the server's persistence and visibility stores.
type stores struct {
	defaultStore, visibilityStore string
	dataStores                    map[string]config.DataStore
	historyShards                 int32
	// unlock releases the database's lock, once the server has stopped.
	unlock func()
}

// chooseStores is PostgreSQL when opts name it, else the SQLite file.
func chooseStores(opts Options, logger serverlog.Logger) (stores, error) {
	if opts.Postgres != nil {
		// The persistence database must exist to hold the lock, and the lock
		// is held before the schema tool runs: two servers starting at once
		// would race through the schema updates.
		if err := ensurePostgresDatabase(opts.Postgres.sqlConfig(opts.Postgres.Database, 1), logger); err != nil {
			return stores{}, fmt.Errorf("PostgreSQL database %q on %s: %w", opts.Postgres.Database, opts.Postgres.Addr, err)
		}
		unlock, err := lockPostgres(opts.Postgres)
		if err != nil {
			return stores{}, err
		}
		persistence, visibility, err := postgresStores(opts.Postgres, logger)
		if err != nil {
			unlock()
			return stores{}, err
		}
		return stores{
			unlock:       unlock,
			defaultStore: "postgres", visibilityStore: "postgres-visibility",
			dataStores: map[string]config.DataStore{
				"postgres":            {SQL: persistence},
				"postgres-visibility": {SQL: visibility},
			},
			historyShards: postgresHistoryShards,
		}, nil
	}
	sqlConf, err := sqliteStore(filepath.Join(opts.DataDir, "temporal.db"), opts.Namespace)
	if err != nil {
		return stores{}, err
	}
	return stores{defaultStore: "sqlite", visibilityStore: "sqlite",
		dataStores: map[string]config.DataStore{"sqlite": {SQL: sqlConf}}, historyShards: 1}, nil
}

func serverConfig(host string, frontendPort int, st stores) (*config.Config, error) {
	httpPort, err := freePort(host)
	if err != nil {
		return nil, err
	}
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = st.defaultStore
	conf.Persistence.VisibilityStore = st.visibilityStore
	conf.Persistence.NumHistoryShards = st.historyShards
	conf.Persistence.DataStores = st.dataStores
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             net.JoinHostPort(host, strconv.Itoa(frontendPort)),
				HTTPAddress:            net.JoinHostPort(host, strconv.Itoa(httpPort)),
				// The persisted cluster ID wins on later starts; this only seeds a new database.
				ClusterID: uuid.NewString(),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, svc := range temporal.DefaultServices {
		rpc := config.RPC{BindOnIP: host}
		if svc == string(primitives.FrontendService) {
			rpc.GRPCPort, rpc.HTTPPort = frontendPort, httpPort
		} else if rpc.GRPCPort, err = freePort(host); err != nil {
			return nil, err
		}
		conf.Services[svc] = config.Service{RPC: rpc}
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(host, strconv.Itoa(frontendPort))
	return conf, nil
}

func staticHosts(conf *config.Config) map[primitives.ServiceName]static.Hosts {
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range temporal.DefaultServices {
		rpc := conf.Services[svc].RPC
		hosts[primitives.ServiceName(svc)] = static.SingleLocalHost(net.JoinHostPort(rpc.BindOnIP, strconv.Itoa(rpc.GRPCPort)))
	}
	return hosts
}

func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// Search attributes registered a moment ago must be usable at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// `starter list`, the UI and benchmarks read visibility often.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
	}
}

// serverLogger writes warnings and worse to logPath, and fatal entries to
// stderr too.
func serverLogger(logPath string) serverlog.Logger {
	return serverlog.NewZapLogger(serverlog.BuildZapLogger(serverlog.Config{
		Level:      "warn",
		Format:     "json",
		OutputFile: logPath,
	}).WithOptions(zap.WrapCore(func(file zapcore.Core) zapcore.Core {
		return zapcore.NewTee(file, fatalToStderr(logPath))
	})))
}

// fatalToStderr copies the server's fatal entries to stderr. The server exits
// the process right after one (when a port of an internal service was taken
// meanwhile, say), and its log file is not where a person looks first.
func fatalToStderr(logPath string) zapcore.Core {
	encoder := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg", ConsoleSeparator: " "})
	return zapcore.NewCore(encoder,
		zapcore.Lock(prefixWriter{prefix: "temporal server failed (full log: " + logPath + "): "}),
		zap.LevelEnablerFunc(func(l zapcore.Level) bool { return l >= zapcore.DPanicLevel }))
}

// prefixWriter writes each entry to stderr after a prefix.
type prefixWriter struct{ prefix string }

func (w prefixWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(os.Stderr, w.prefix); err != nil {
		return 0, err
	}
	return os.Stderr.Write(p)
}

func (prefixWriter) Sync() error { return nil }
