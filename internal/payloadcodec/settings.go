package payloadcodec

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/pflag"
)

// Environment variables, read by the worker, the starter and the codec server.
const (
	// KeyFileEnv names a key file (the same as --codec-keys).
	KeyFileEnv = "INFRAFLOW_CODEC_KEY_FILE"
	// KeysEnv holds the keys themselves, in the key file format (entries
	// separated by newlines or commas), for platforms that inject secrets as
	// environment variables.
	KeysEnv = "INFRAFLOW_CODEC_KEYS"
	// InsecureEnv set to true is the same as --insecure-no-codec.
	InsecureEnv = "INFRAFLOW_INSECURE_NO_CODEC"
)

// Settings say where a process finds its payload encryption keys.
type Settings struct {
	// KeyFile is --codec-keys (default $INFRAFLOW_CODEC_KEY_FILE).
	KeyFile string
	// Insecure is --insecure-no-codec: run without encryption, on purpose.
	Insecure bool
	// FallbackFile is used when neither a key file nor $INFRAFLOW_CODEC_KEYS
	// is given and it exists: the local platform's key file.
	FallbackFile string
	// CreateFallback makes a missing FallbackFile with a fresh key (worker --dev).
	CreateFallback bool
}

// AddFlags declares --codec-keys and --insecure-no-codec.
func (s *Settings) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.KeyFile, "codec-keys", os.Getenv(KeyFileEnv),
		"payload encryption key file: lines of id:base64key, the first key encrypts, all decrypt (env "+KeyFileEnv+", or the keys themselves in "+KeysEnv+")")
	insecure, _ := strconv.ParseBool(os.Getenv(InsecureEnv))
	fs.BoolVar(&s.Insecure, "insecure-no-codec", insecure,
		"do not encrypt payloads: workflow inputs and results are stored in plain text on the Temporal server (env "+InsecureEnv+"=true)")
}

// Resolved is the outcome of Resolve: a codec, or nil when running without
// encryption on purpose; Created says a new key file was written.
type Resolved struct {
	Codec   *Codec
	Created bool
}

// ErrNoKeys says no keys were configured and encryption was not turned off.
var ErrNoKeys = errors.New("no payload encryption keys configured")

// Resolve finds the keys: --codec-keys/$INFRAFLOW_CODEC_KEY_FILE, else
// $INFRAFLOW_CODEC_KEYS, else the fallback file. Keys and --insecure-no-codec
// together are refused, as is neither (infraflow does not silently store
// inputs in plain text).
func (s Settings) Resolve() (Resolved, error) {
	inline := os.Getenv(KeysEnv)
	if s.KeyFile != "" && inline != "" {
		return Resolved{}, fmt.Errorf("both a codec key file (%s) and $%s are set; keep one, so it is clear which keys encrypt", s.KeyFile, KeysEnv)
	}
	if s.Insecure {
		if s.KeyFile != "" || inline != "" {
			return Resolved{}, fmt.Errorf("--insecure-no-codec contradicts the configured codec keys (--codec-keys/$%s/$%s); drop one", KeyFileEnv, KeysEnv)
		}
		return Resolved{}, nil
	}
	switch {
	case s.KeyFile != "":
		keys, err := LoadKeyFile(s.KeyFile)
		if err != nil {
			return Resolved{}, err
		}
		c, err := New(keys, "codec key file "+s.KeyFile)
		return Resolved{Codec: c}, err
	case inline != "":
		keys, err := ParseKeys(inline, "$"+KeysEnv)
		if err != nil {
			return Resolved{}, err
		}
		c, err := New(keys, "$"+KeysEnv)
		return Resolved{Codec: c}, err
	case s.FallbackFile != "":
		keys, err := LoadKeyFile(s.FallbackFile)
		created := false
		if errors.Is(err, os.ErrNotExist) && s.CreateFallback {
			keys, err = CreateKeyFile(s.FallbackFile)
			created = true
		}
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return Resolved{}, err
		}
		c, err := New(keys, "codec key file "+s.FallbackFile)
		return Resolved{Codec: c, Created: created}, err
	}
	return Resolved{}, fmt.Errorf("%w: pass --codec-keys FILE (or set %s, or put the keys in %s) with the workers' keys, "+
		"or --insecure-no-codec (%s=true) to store workflow inputs and results in plain text", ErrNoKeys, KeyFileEnv, KeysEnv, InsecureEnv)
}
