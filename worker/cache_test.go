package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func parseCacheFlags(t *testing.T, args ...string) (*stickyCache, *pflag.FlagSet) {
	t.Helper()
	var s stickyCache
	f := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	s.addFlags(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &s, f
}

// --sticky-cache-size wins over INFRAFLOW_STICKY_CACHE_SIZE, which wins over
// the default; a malformed variable is an error unless the flag overrides it.
func TestStickyCacheSizeFromFlagEnvOrDefault(t *testing.T) {
	t.Setenv(stickyCacheEnv, "")
	s, f := parseCacheFlags(t)
	if err := s.apply(f.Changed("sticky-cache-size")); err != nil || s.size != defaultStickyCacheSize {
		t.Errorf("an empty %s: size %d, %v; want the default %d", stickyCacheEnv, s.size, err, defaultStickyCacheSize)
	}

	t.Setenv(stickyCacheEnv, " 250 ")
	if s, f = parseCacheFlags(t); s.size != 250 || s.apply(f.Changed("sticky-cache-size")) != nil {
		t.Errorf("from the environment: size %d, want 250", s.size)
	}
	if s, _ = parseCacheFlags(t, "--sticky-cache-size", "40"); s.size != 40 {
		t.Errorf("the flag over the environment: size %d, want 40", s.size)
	}

	t.Setenv(stickyCacheEnv, "lots")
	s, f = parseCacheFlags(t)
	if err := s.apply(f.Changed("sticky-cache-size")); err == nil || !strings.Contains(err.Error(), stickyCacheEnv) {
		t.Errorf("a malformed %s: %v, want an error naming it", stickyCacheEnv, err)
	}
	s, f = parseCacheFlags(t, "--sticky-cache-size", "0")
	if err := s.apply(f.Changed("sticky-cache-size")); err != nil || s.size != 0 {
		t.Errorf("the flag over a malformed variable: size %d, %v", s.size, err)
	}
	s, f = parseCacheFlags(t, "--sticky-cache-size", "-1")
	if err := s.apply(f.Changed("sticky-cache-size")); err == nil {
		t.Error("a negative size was accepted")
	}
}
