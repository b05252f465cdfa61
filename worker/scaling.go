package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/infraflow/infraflow/activities"
	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/tracereplay"
)

// scalingOptions configure forecast-and-scale: which Prometheus servers ticks
// may query, and (for demos and tests) a trace replayed as a live metric.
type scalingOptions struct {
	prometheusURLs    []string
	prometheusAddress string
	replayTrace       string
	replayTick        time.Duration
	replayAddress     string
	awsEndpoint       string
	awsRegion         string
	motoAddress       string
}

func (s *scalingOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&s.prometheusURLs, "prometheus-url", envList("INFRAFLOW_PROMETHEUS_URLS", ","), "Prometheus base URL ForecastScale may query; repeat for more, the first is the default (env INFRAFLOW_PROMETHEUS_URLS; --dev adds its own)")
	f.StringVar(&s.prometheusAddress, "prometheus-address", "127.0.0.1:9095", "with --dev: address of the local Prometheus (started when /usr/bin/prometheus is installed)")
	f.StringVar(&s.replayTrace, "replay-trace", os.Getenv("INFRAFLOW_REPLAY_TRACE"), "CSV trace (timestamp,value) to replay as the gauge "+tracereplay.MetricName+" (env INFRAFLOW_REPLAY_TRACE)")
	f.DurationVar(&s.replayTick, "replay-tick", time.Second, "real time per trace step when replaying")
	f.StringVar(&s.replayAddress, "replay-address", "127.0.0.1:9466", "address of the trace replay exporter")
	f.StringVar(&s.awsEndpoint, "aws-endpoint", os.Getenv("INFRAFLOW_AWS_ENDPOINT"), "AWS endpoint for Auto Scaling targets, e.g. moto's http://127.0.0.1:5000 (env INFRAFLOW_AWS_ENDPOINT)")
	f.StringVar(&s.awsRegion, "aws-region", envOr("AWS_REGION", "us-east-1"), "AWS region for Auto Scaling targets")
	f.StringVar(&s.motoAddress, "moto-address", "127.0.0.1:9097", "with --dev and no --aws-endpoint: address of a local moto server (AWS APIs in memory) for Auto Scaling targets; empty leaves it out")
}

// startScaling starts the trace exporter and, with --dev, a local Prometheus
// scraping it and the worker's metrics. stop undoes what started.
func startScaling(ctx context.Context, o options) (cfg activities.ScaleConfig, banner []string, stop func(), err error) {
	s := o.scaling
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	cfg = activities.ScaleConfig{PrometheusURLs: s.prometheusURLs, Kubeconfig: o.kubeconfig, AWSEndpoint: s.awsEndpoint, AWSRegion: s.awsRegion}
	var targets []string
	if s.replayTrace != "" {
		player, err := tracereplay.NewFromFile(s.replayTrace, s.replayTick, 0)
		if err != nil {
			return cfg, nil, stop, err
		}
		exporter, err := tracereplay.Serve(s.replayAddress, player)
		if err != nil {
			return cfg, nil, stop, err
		}
		stops = append(stops, func() { _ = exporter.Close() })
		targets = append(targets, exporter.Addr)
		banner = append(banner, fmt.Sprintf("Replay:      %s, one step per %s, at http://%s/metrics as %s{trace=%q}",
			s.replayTrace, s.replayTick, exporter.Addr, tracereplay.MetricName, player.Name))
	}
	if !o.dev {
		return cfg, banner, stop, nil
	}
	if o.metricsAddress != "" {
		targets = append(targets, o.metricsAddress)
	}
	prom, err := localenv.StartPrometheus(ctx, localenv.PrometheusOptions{
		DataDir: filepath.Join(o.dataDir, "prometheus"), Address: s.prometheusAddress, Targets: targets,
	})
	switch {
	case errors.Is(err, localenv.ErrPrometheusMissing):
		banner = append(banner, "Prometheus:  not started: "+err.Error())
	case err != nil:
		return cfg, banner, stop, err
	default:
		stops = append(stops, prom.Stop)
		cfg.PrometheusURLs = append([]string{prom.URL}, cfg.PrometheusURLs...)
		banner = append(banner, "Prometheus:  "+prom.URL+" (ForecastScale's default metrics source)")
	}
	if s.awsEndpoint != "" || s.motoAddress == "" {
		return cfg, banner, stop, nil
	}
	moto, err := localenv.StartMoto(ctx, filepath.Join(o.dataDir, "moto"), s.motoAddress)
	switch {
	case errors.Is(err, localenv.ErrMotoMissing):
		banner = append(banner, "AWS (moto):  not started: "+err.Error())
	case err != nil:
		return cfg, banner, stop, err
	default:
		stops = append(stops, moto.Stop)
		cfg.AWSEndpoint, cfg.AWSLocalMoto = moto.URL, true
		banner = append(banner, "AWS (moto):  "+moto.URL+" (Auto Scaling targets; its state is in memory)")
	}
	return cfg, banner, stop, nil
}
