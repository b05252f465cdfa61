// Command forecast measures forecast accuracy per the protocol in
// docs/benchmarks.md: every infraflow model and the automatic choice, against
// last value, seasonal naive and the statsmodels Holt-Winters peer (run here
// with Debian's /usr/bin/python3), on an 80/20 split with a rolling origin.
//
//	go run ./tests/bench/forecast --traces ../shared/data/traces --out .infraflow/bench
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/infraflow/infraflow/internal/forecast"
	"github.com/infraflow/infraflow/tests/bench/internal/trace"
)

func main() {
	traces := flag.String("traces", "../shared/data/traces", "directory of timestamp,value CSV traces")
	out := flag.String("out", ".infraflow/bench", "directory for forecast.json and forecast.md")
	python := flag.String("python", "/usr/bin/python3", "Python with statsmodels for the peer; empty skips the peer")
	flag.Parse()
	if err := run(*traces, *out, *python); err != nil {
		log.Fatal(err)
	}
}

// Column is one method's result on one trace.
type Column struct {
	Method     string  `json:"method"`
	Chosen     string  `json:"chosen,omitempty"` // the model the automatic choice picked
	WAPE       float64 `json:"wape"`
	MASE       float64 `json:"mase"`
	SMAPE      float64 `json:"smape"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Note       string  `json:"note,omitempty"`
}

type traceResult struct {
	Trace   string   `json:"trace"`
	Step    string   `json:"step"`
	Points  int      `json:"points"`
	Filled  int      `json:"filledPoints"`
	Season  int      `json:"season"`
	Horizon int      `json:"horizon"`
	Split   int      `json:"split"`
	Columns []Column `json:"columns"`
	// ReferencePeerWAPE is the protocol file's statsmodels figure, when it has one.
	ReferencePeerWAPE float64 `json:"referencePeerWape,omitempty"`
}

// referencePeer are the statsmodels WAPEs in docs/benchmarks.md, to check the peer.
var referencePeer = map[string]float64{
	"nyc_taxi": 0.0644, "Twitter_volume_AMZN": 0.2372, "Twitter_volume_AAPL": 0.6624,
	"elb_request_count_8c0756": 0.6333, "ec2_cpu_utilization_5f5533": 0.0228,
	"ec2_cpu_utilization_fe7f93": 1.3989, "ec2_network_in_257a54": 3.8834,
	"cpu_utilization_asg_misconfiguration": 0.1498,
}

func run(dir, out, python string) error {
	traces, err := trace.LoadDir(dir)
	if err != nil {
		return err
	}
	peerScript, err := filepath.Abs(filepath.Join("tests", "bench", "forecast", "peer.py"))
	if err != nil {
		return err
	}
	var all []traceResult
	for _, tr := range traces {
		r := evaluateTrace(tr, python, peerScript)
		all = append(all, r)
		fmt.Fprintf(os.Stderr, "%s done\n", tr.Name)
	}
	md := markdown(all)
	fmt.Print(md)
	return trace.WriteReport(out, "forecast", all, md)
}

func evaluateTrace(tr trace.Trace, python, peerScript string) traceResult {
	y := tr.Values
	season := forecast.StepsPer(24*time.Hour, tr.Step)
	weekly := forecast.StepsPer(7*24*time.Hour, tr.Step)
	h := forecast.StepsCovering(15*time.Minute, tr.Step)
	split := trace.Split(len(y))
	res := traceResult{Trace: tr.Name, Step: tr.Step.String(), Points: len(y), Filled: tr.Filled,
		Season: season, Horizon: h, Split: split, ReferencePeerWAPE: referencePeer[tr.Name]}
	scale := seasonalNaiveMAE(y[:split], season)

	models := append(forecast.Candidates(season, weekly, split), forecast.Auto{Period: season, WeeklyPeriod: weekly, Horizon: h})
	for _, m := range models {
		before := cpuSeconds()
		forecasts, chosen, err := rolling(m, y, split, h)
		col := Column{Method: m.Name(), CPUSeconds: cpuSeconds() - before, Chosen: chosen}
		if err != nil {
			col.Note = err.Error()
			col.WAPE, col.MASE, col.SMAPE = math.NaN(), math.NaN(), math.NaN()
		} else {
			col.WAPE, col.MASE, col.SMAPE = metrics(y, split, h, forecasts, scale)
		}
		res.Columns = append(res.Columns, col)
	}
	if python != "" {
		res.Columns = append(res.Columns, peer(python, peerScript, y, season, h, split, scale))
	}
	return res
}

// rolling fits m on y[:split] once, then forecasts y[t+h] from every origin
// t = split-1 .. len(y)-1-h, the state taking each observation as it comes.
func rolling(m forecast.Model, y []float64, split, h int) ([]float64, string, error) {
	st, err := m.Fit(y[:split])
	if err != nil {
		return nil, "", err
	}
	chosen := ""
	if f, ok := st.(*forecast.Fitted); ok {
		chosen = f.Model
	}
	out := make([]float64, 0, len(y)-split)
	for t := split - 1; t+h < len(y); t++ {
		if t >= split {
			st.Observe(y[t])
		}
		out = append(out, st.Forecast(h)[h-1])
	}
	return out, chosen, nil
}

// metrics compares forecasts[i] (of y[split-1+i+h]) with the actual values.
func metrics(y []float64, split, h int, forecasts []float64, scale float64) (wape, mase, smape float64) {
	sumAbs, sumActual, sumSym, nSym := 0.0, 0.0, 0.0, 0
	for i, f := range forecasts {
		actual := y[split-1+i+h]
		e := math.Abs(actual - f)
		sumAbs += e
		sumActual += math.Abs(actual)
		if d := math.Abs(actual) + math.Abs(f); d > 0 {
			sumSym += 2 * e / d
		}
		nSym++
	}
	n := float64(len(forecasts))
	return sumAbs / sumActual, sumAbs / n / scale, sumSym / float64(nSym)
}

// seasonalNaiveMAE is the in-sample MAE of the seasonal-naive forecast on the
// training part: the MASE scale.
func seasonalNaiveMAE(train []float64, season int) float64 {
	sum, n := 0.0, 0
	for t := season; t < len(train); t++ {
		sum += math.Abs(train[t] - train[t-season])
		n++
	}
	if n == 0 || sum == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

type peerOutput struct {
	Trend      string    `json:"trend"`
	CPUSeconds float64   `json:"cpuSeconds"`
	Forecasts  []float64 `json:"forecasts"`
}

// peer runs statsmodels' Holt-Winters on the same regularised series and split.
func peer(python, script string, y []float64, season, h, split int, scale float64) Column {
	col := Column{Method: "statsmodels-hw", WAPE: math.NaN(), MASE: math.NaN(), SMAPE: math.NaN()}
	f, err := os.CreateTemp("", "infraflow-bench-forecast-*.txt")
	if err != nil {
		col.Note = err.Error()
		return col
	}
	defer os.Remove(f.Name())
	var b strings.Builder
	for _, v := range y {
		fmt.Fprintf(&b, "%.17g\n", v)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		col.Note = err.Error()
		return col
	}
	f.Close()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(python, script, f.Name(), fmt.Sprint(season), fmt.Sprint(h), fmt.Sprint(split))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		col.Note = fmt.Sprintf("peer failed: %v: %s", err, lastLine(stderr.String()))
		return col
	}
	var p peerOutput
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		col.Note = fmt.Sprintf("peer output: %v", err)
		return col
	}
	if want := len(y) - h - (split - 1); len(p.Forecasts) != want {
		col.Note = fmt.Sprintf("peer returned %d forecasts, want %d", len(p.Forecasts), want)
		return col
	}
	col.WAPE, col.MASE, col.SMAPE = metrics(y, split, h, p.Forecasts, scale)
	// The peer's own process_time of fit + rolling evaluation (interpreter start
	// and imports excluded, which favours the peer).
	col.CPUSeconds = p.CPUSeconds
	col.Chosen = "trend " + p.Trend
	return col
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func markdown(all []traceResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Forecast accuracy, rolling origin over the last 20%% (%s, %d CPUs)\n\n", runtime.Version(), runtime.NumCPU())
	for _, metric := range []string{"WAPE", "MASE", "sMAPE", "CPU seconds"} {
		fmt.Fprintf(&b, "%s\n\n| trace | h |", metric)
		methods := methodNames(all)
		for _, m := range methods {
			fmt.Fprintf(&b, " %s |", m)
		}
		if metric == "WAPE" {
			b.WriteString(" auto chose | peer reference |")
		}
		b.WriteString("\n|---|---|" + strings.Repeat("---|", len(methods)))
		if metric == "WAPE" {
			b.WriteString("---|---|")
		}
		b.WriteString("\n")
		for _, r := range all {
			fmt.Fprintf(&b, "| %s | %d |", r.Trace, r.Horizon)
			chosen := ""
			for _, m := range methods {
				c, ok := column(r, m)
				if !ok {
					b.WriteString(" – |")
					continue
				}
				if c.Method == "auto" {
					chosen = c.Chosen
				}
				v := map[string]float64{"WAPE": c.WAPE, "MASE": c.MASE, "sMAPE": c.SMAPE, "CPU seconds": c.CPUSeconds}[metric]
				fmt.Fprintf(&b, " %.4f |", v)
			}
			if metric == "WAPE" {
				ref := "–"
				if r.ReferencePeerWAPE > 0 {
					ref = fmt.Sprintf("%.4f", r.ReferencePeerWAPE)
				}
				fmt.Fprintf(&b, " %s | %s |", chosen, ref)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	b.WriteString(summary(all))
	return b.String()
}

// summary checks the targets; it reports, it never fails.
func summary(all []traceResult) string {
	beats, notWorse, cpuAuto, cpuPeer := 0, 0, 0.0, 0.0
	var b strings.Builder
	for _, r := range all {
		auto, _ := column(r, "auto")
		peer, okPeer := column(r, "statsmodels-hw")
		naive, _ := column(r, "seasonal-naive-daily")
		if okPeer && auto.WAPE < peer.WAPE {
			beats++
		}
		if auto.WAPE <= 1.05*naive.WAPE {
			notWorse++
		}
		cpuAuto += auto.CPUSeconds
		if okPeer {
			cpuPeer += peer.CPUSeconds
		}
	}
	fmt.Fprintf(&b, "Targets: auto beats statsmodels HW on %d of %d traces; auto within 5%% of seasonal naive (or better) on %d of %d; CPU seconds auto %.2f vs peer %.2f (ratio %.3f)\n",
		beats, len(all), notWorse, len(all), cpuAuto, cpuPeer, cpuAuto/cpuPeer)
	return b.String()
}

func methodNames(all []traceResult) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range all {
		for _, c := range r.Columns {
			if !seen[c.Method] {
				seen[c.Method] = true
				names = append(names, c.Method)
			}
		}
	}
	return names
}

func column(r traceResult, method string) (Column, bool) {
	for _, c := range r.Columns {
		if c.Method == method {
			return c, true
		}
	}
	return Column{}, false
}
