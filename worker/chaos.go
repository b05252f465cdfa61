package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/localenv"
)

// chaosOptions configure game days: the toxiproxy that network faults go
// through.
type chaosOptions struct {
	toxiproxyURL     string
	toxiproxyAddress string
}

func (c *chaosOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.toxiproxyURL, "toxiproxy-url", os.Getenv("INFRAFLOW_TOXIPROXY_URL"), "toxiproxy API that game days' network faults go through, e.g. http://127.0.0.1:8474 (env INFRAFLOW_TOXIPROXY_URL)")
	f.StringVar(&c.toxiproxyAddress, "toxiproxy-address", "127.0.0.1:8474", "with --dev and no --toxiproxy-url: address of a local toxiproxy API; empty leaves it out")
}

// startChaos starts, with --dev, a local toxiproxy. stop undoes what started.
func startChaos(ctx context.Context, o options) (cfg activities.ChaosConfig, banner []string, stop func(), err error) {
	c := o.chaos
	stop = func() {}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return cfg, nil, stop, err
	}
	host, _ := os.Hostname()
	cfg = activities.ChaosConfig{ToxiproxyURL: c.toxiproxyURL, DataDir: dataDir, Identity: fmt.Sprintf("%d@%s", os.Getpid(), host)}
	if !o.dev || c.toxiproxyURL != "" || c.toxiproxyAddress == "" {
		return cfg, nil, stop, nil
	}
	tp, err := localenv.StartToxiproxy(ctx, filepath.Join(o.dataDir, "toxiproxy"), c.toxiproxyAddress)
	switch {
	case errors.Is(err, localenv.ErrToxiproxyMissing):
		return cfg, []string{"Toxiproxy:   not started: " + err.Error()}, stop, nil
	case err != nil:
		return cfg, nil, stop, err
	}
	cfg.ToxiproxyURL = tp.URL
	return cfg, []string{"Toxiproxy:   " + tp.URL + " (network faults of game days; create proxies with toxiproxy-cli)"}, tp.Stop, nil
}
