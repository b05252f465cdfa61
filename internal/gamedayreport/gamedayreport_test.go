package gamedayreport

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/gameday"
)

var t0 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

// Four rounds 2 s apart of two probes; latency fails in the two rounds the
// fault was in, the Prometheus probe holds throughout.
func rounds() []gameday.ProbeRound {
	round := func(s int, phase string, latency float64, ok bool) gameday.ProbeRound {
		return gameday.ProbeRound{At: t0.Add(time.Duration(s) * time.Second), Phase: phase, OK: ok, Results: []gameday.ProbeResult{
			{Probe: "app-latency", Kind: gameday.ProbeHTTP, Value: latency, OK: ok},
			{Probe: "targets-up", Kind: gameday.ProbePrometheus, Value: 1, OK: true},
		}}
	}
	return []gameday.ProbeRound{round(0, "before", 0.012, true), round(2, "method", 0.31, false), round(4, "method", 0.32, false), round(6, "recovery", 0.011, true)}
}

func TestChartHasAPanelPerProbeWithItsFailedRoundsMarked(t *testing.T) {
	c := Chart("app keeps p95 under 200ms", rounds(), []gameday.FaultWindow{{Fault: "slow-app", Start: t0.Add(time.Second), End: t0.Add(5 * time.Second)}})
	if len(c.Panels) != 2 || c.Panels[0].Title != "app-latency" || c.Panels[1].Title != "targets-up" {
		t.Fatalf("panels %+v, want app-latency then targets-up", c.Panels)
	}
	latency := c.Panels[0]
	if latency.YLabel != "http" || len(latency.Series) != 2 || len(latency.Series[0].Points) != 4 {
		t.Fatalf("latency panel %+v: want 4 values and a series of failed rounds", latency)
	}
	failed := latency.Series[1]
	if failed.Name != "app-latency"+OutOfTolerance || len(failed.Points) != 2 ||
		!failed.Points[0].At.Equal(t0.Add(2*time.Second)) || failed.Points[1].Value != 0.32 {
		t.Errorf("failed rounds %+v, want the two method rounds", failed)
	}
	if len(c.Panels[1].Series) != 1 {
		t.Errorf("a probe that never failed has %d series, want its values only", len(c.Panels[1].Series))
	}
	if len(c.Windows) != 1 || c.Windows[0].Label != "slow-app" || !c.Windows[0].From.Equal(t0.Add(time.Second)) || !c.Windows[0].To.Equal(t0.Add(5*time.Second)) {
		t.Errorf("windows %+v, want slow-app from 1s to 5s", c.Windows)
	}
}

func TestAFaultStillInIsShadedToTheLastRound(t *testing.T) {
	c := Chart("t", rounds(), []gameday.FaultWindow{{Fault: "slow-app", Start: t0.Add(time.Second)}, {Fault: "late", Start: t0.Add(7 * time.Second)}})
	if got := c.Windows[0].To; !got.Equal(t0.Add(6 * time.Second)) {
		t.Errorf("open fault ends at %s, want the last round's time", got.Sub(t0))
	}
	if got := c.Windows[1]; !got.To.Equal(got.From) {
		t.Errorf("a fault injected after the last round spans %s–%s, want an instant", got.From.Sub(t0), got.To.Sub(t0))
	}
	if _, err := c.Write(filepath.Join(t.TempDir(), "open")); err != nil {
		t.Errorf("a running game day's chart does not draw: %v", err)
	}
}

func TestWrittenChartDecodesAndNamesTheProbesAndFaults(t *testing.T) {
	files, err := Chart("app keeps p95 under 200ms", rounds(), []gameday.FaultWindow{{Fault: "slow-app", Start: t0.Add(time.Second), End: t0.Add(5 * time.Second)}}).
		Write(filepath.Join(t.TempDir(), "gd"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(files.PNG)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() == 0 {
		t.Errorf("PNG %s: %v", files.PNG, err)
	}
	svg, err := os.ReadFile(files.SVG)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			text.Write(cd)
		}
	}
	for _, label := range []string{"app-latency", "targets-up", "slow-app", "app keeps p95 under 200ms"} {
		if !strings.Contains(text.String(), label) {
			t.Errorf("SVG text lacks %q", label)
		}
	}
}
