// Package trace reads benchmark traces (CSV files with a `timestamp,value`
// header) onto a regular grid, and writes benchmark reports.
package trace

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/infraflow/infraflow/internal/forecast"
)

// Trace is one regularised trace.
type Trace struct {
	Name string
	forecast.Series
}

// LoadDir reads every *.csv file of dir, sorted by name.
func LoadDir(dir string) ([]Trace, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *.csv traces in %s", dir)
	}
	sort.Strings(paths)
	var traces []Trace
	for _, p := range paths {
		t, err := Load(p)
		if err != nil {
			return nil, err
		}
		traces = append(traces, t)
	}
	return traces, nil
}

var layouts = []string{"2006-01-02 15:04:05", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04"}

// Load reads one trace and fills its gaps on the modal interval.
func Load(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return Trace{}, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	if len(header) < 2 || strings.TrimSpace(header[0]) != "timestamp" || strings.TrimSpace(header[1]) != "value" {
		return Trace{}, fmt.Errorf("%s: header %q, want timestamp,value", path, header)
	}
	var times []time.Time
	var values []float64
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Trace{}, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		ts, err := parseTime(rec[0])
		if err != nil {
			return Trace{}, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return Trace{}, fmt.Errorf("%s:%d: value: %w", path, line, err)
		}
		times, values = append(times, ts), append(values, v)
	}
	s, err := forecast.Regularize(times, values)
	if err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	return Trace{Name: strings.TrimSuffix(filepath.Base(path), ".csv"), Series: s}, nil
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: not in a known layout", s)
}

// Split is the index where the test part starts: the first 80% trains.
func Split(n int) int { return n * 8 / 10 }

// WriteReport writes v as name.json and markdown as name.md under dir.
func WriteReport(dir, name string, v any, markdown string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), []byte(markdown), 0o644)
}
