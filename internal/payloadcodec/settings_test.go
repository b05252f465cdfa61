package payloadcodec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

func TestResolveCreatesTheDevKeyFileOnceAndReusesIt(t *testing.T) {
	t.Setenv(KeysEnv, "")
	file := filepath.Join(t.TempDir(), "data", "codec-keys")
	s := Settings{FallbackFile: file, CreateFallback: true}
	first, err := s.Resolve()
	if err != nil || !first.Created || first.Codec == nil {
		t.Fatalf("first resolve: %+v, %v", first, err)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	second, err := s.Resolve()
	if err != nil || second.Created || second.Codec.EncryptKeyID() != first.Codec.EncryptKeyID() {
		t.Fatalf("second resolve: %+v, %v; want the same key, not created", second, err)
	}
	// The second codec reads what the first wrote: the key was persisted, not regenerated.
	enc := encodeOne(t, first.Codec, jsonPayload(t, marker))
	if _, err := second.Codec.Decode([]*commonpb.Payload{enc}); err != nil {
		t.Fatalf("the reloaded dev key cannot read a payload of the first: %v", err)
	}
}

func TestResolveRefusesNoKeysUnlessInsecure(t *testing.T) {
	t.Setenv(KeysEnv, "")
	_, err := Settings{FallbackFile: filepath.Join(t.TempDir(), "absent")}.Resolve()
	if !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), "--insecure-no-codec") || !strings.Contains(err.Error(), "--codec-keys") {
		t.Fatalf("no keys: err = %v", err)
	}
	r, err := Settings{Insecure: true}.Resolve()
	if err != nil || r.Codec != nil {
		t.Fatalf("insecure: %+v, %v; want no codec, no error", r, err)
	}
}

func TestResolveSources(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte(FormatKeys([]Key{k2, k1})), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(KeysEnv, "")
	r, err := Settings{KeyFile: file}.Resolve()
	if err != nil || r.Codec.EncryptKeyID() != "k2" || len(r.Codec.KeyIDs()) != 2 || !strings.Contains(r.Codec.Source(), file) {
		t.Fatalf("key file: %+v, %v", r, err)
	}

	t.Setenv(KeysEnv, strings.ReplaceAll(strings.TrimSpace(FormatKeys([]Key{k1})), "\n", ","))
	r, err = Settings{}.Resolve()
	if err != nil || r.Codec.EncryptKeyID() != "k1" || r.Codec.Source() != "$"+KeysEnv {
		t.Fatalf("env keys: %+v, %v", r, err)
	}
	if _, err := (Settings{KeyFile: file}).Resolve(); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("file and env together: err = %v", err)
	}
	if _, err := (Settings{Insecure: true}).Resolve(); err == nil || !strings.Contains(err.Error(), "contradicts") {
		t.Errorf("insecure with keys: err = %v", err)
	}
	t.Setenv(KeysEnv, "")
	if _, err := (Settings{KeyFile: filepath.Join(t.TempDir(), "missing")}).Resolve(); err == nil || !strings.Contains(err.Error(), "codec key file") {
		t.Errorf("missing named key file: err = %v", err)
	}
}
