// Package temporalclient builds Temporal client options from the same sources
// the `temporal` CLI reads (TEMPORAL_* environment variables and the
// temporal.toml profile), with command-line flags taking precedence.
package temporalclient

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/infraflow/infraflow/internal/payloadcodec"
)

// DefaultAddress is the local platform's frontend.
const DefaultAddress = "127.0.0.1:7233"

// Connection says how to reach a Temporal cluster. Empty fields fall back to
// TEMPORAL_* variables, then the temporal.toml profile, then the defaults.
type Connection struct {
	Address       string
	Namespace     string
	APIKey        string
	TLS           bool
	TLSCertPath   string
	TLSKeyPath    string
	TLSCAPath     string
	TLSServerName string
	// Encryption says where the payload encryption keys are; every client
	// infraflow builds (worker, starter, chat ops) encrypts with them.
	Encryption payloadcodec.Settings
}

// AddFlags declares the connection flags, named as in the `temporal` CLI.
func (c *Connection) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS; default "+DefaultAddress+")")
	fs.StringVarP(&c.Namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE; default \"default\")")
	fs.StringVar(&c.APIKey, "api-key", "", "API key, e.g. for Temporal Cloud; enables TLS (env TEMPORAL_API_KEY)")
	fs.BoolVar(&c.TLS, "tls", false, "use TLS with the system roots (env TEMPORAL_TLS)")
	fs.StringVar(&c.TLSCertPath, "tls-cert-path", "", "mTLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	fs.StringVar(&c.TLSKeyPath, "tls-key-path", "", "mTLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	fs.StringVar(&c.TLSCAPath, "tls-ca-path", "", "CA that signed the server certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	fs.StringVar(&c.TLSServerName, "tls-server-name", "", "server name to verify, when it differs from the address (env TEMPORAL_TLS_SERVER_NAME)")
	c.Encryption.AddFlags(fs)
}

// Options resolves the connection into client options, with the payload
// codec as the data converter.
func (c Connection) Options() (client.Options, error) {
	opts, _, err := c.OptionsWithCodec()
	return opts, err
}

// OptionsWithCodec is Options, also returning the codec (nil when running
// without encryption on purpose) for processes that serve it to the Web UI.
func (c Connection) OptionsWithCodec() (client.Options, payloadcodec.Resolved, error) {
	opts, err := c.connectionOptions()
	if err != nil {
		return client.Options{}, payloadcodec.Resolved{}, err
	}
	codec, err := c.Encryption.Resolve()
	if err != nil {
		return client.Options{}, payloadcodec.Resolved{}, err
	}
	if codec.Codec != nil {
		opts.DataConverter = payloadcodec.DataConverter(codec.Codec)
	}
	return opts, codec, nil
}

func (c Connection) connectionOptions() (client.Options, error) {
	profile, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{})
	if err != nil {
		return client.Options{}, fmt.Errorf("reading TEMPORAL_* environment and temporal.toml profile: %w", err)
	}
	override(&profile.Address, c.Address)
	override(&profile.Namespace, c.Namespace)
	override(&profile.APIKey, c.APIKey)
	if profile.Address == "" {
		profile.Address = DefaultAddress
	}
	if profile.Namespace == "" {
		profile.Namespace = "default"
	}
	if c.TLS || c.TLSCertPath != "" || c.TLSKeyPath != "" || c.TLSCAPath != "" || c.TLSServerName != "" {
		if profile.TLS == nil {
			profile.TLS = &envconfig.ClientConfigTLS{}
		}
		profile.TLS.Disabled = false
		override(&profile.TLS.ClientCertPath, c.TLSCertPath)
		override(&profile.TLS.ClientKeyPath, c.TLSKeyPath)
		override(&profile.TLS.ServerCACertPath, c.TLSCAPath)
		override(&profile.TLS.ServerName, c.TLSServerName)
	}
	if tls := profile.TLS; tls != nil && (tls.ClientCertPath == "") != (tls.ClientKeyPath == "") {
		return client.Options{}, fmt.Errorf("mTLS needs both --tls-cert-path and --tls-key-path (or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)")
	}
	opts, err := profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	return opts, nil
}

// Dial connects and checks that the frontend answers, so a wrong address fails
// here with the address in the message rather than later.
func (c Connection) Dial() (client.Client, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	return DialOptions(opts)
}

// DialOptions connects with already resolved options.
func DialOptions(opts client.Options) (client.Client, error) {
	cl, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s (namespace %s): %w; start the local platform with `make dev` or point --address/TEMPORAL_ADDRESS at your cluster", opts.HostPort, opts.Namespace, err)
	}
	return cl, nil
}

func override(dst *string, flag string) {
	if flag != "" {
		*dst = flag
	}
}
