// Package gamedayreport turns a game day's timeline (its probe rounds and the
// spans of its faults) into a chart: one panel per probe, its values over
// time with the rounds out of tolerance marked, the fault windows shaded
// across every panel. It is pure: the worker's WriteGameDayReport activity
// and `starter gameday report --out` draw the same figure from the same data.
package gamedayreport

import (
	"github.com/infraflow/infraflow/internal/chart"
	"github.com/infraflow/infraflow/internal/gameday"
)

// OutOfTolerance is the suffix of the series that marks a probe's failed
// rounds, as the legend shows it.
const OutOfTolerance = " out of tolerance"

// Chart draws the rounds, a panel per probe in the order the probes first
// appear. A fault still in (no end yet) is shaded up to the last round.
func Chart(title string, rounds []gameday.ProbeRound, faults []gameday.FaultWindow) chart.Chart {
	var panels []chart.Panel
	index := map[string]int{}
	for _, round := range rounds {
		for _, r := range round.Results {
			i, ok := index[r.Probe]
			if !ok {
				i = len(panels)
				index[r.Probe] = i
				panels = append(panels, chart.Panel{Title: r.Probe, YLabel: string(r.Kind),
					Series: []chart.Series{{Name: r.Probe}, {Name: r.Probe + OutOfTolerance, Style: chart.Dots}}})
			}
			point := chart.Point{At: round.At, Value: r.Value}
			panels[i].Series[0].Points = append(panels[i].Series[0].Points, point)
			if !r.OK {
				panels[i].Series[1].Points = append(panels[i].Series[1].Points, point)
			}
		}
	}
	for i := range panels {
		if len(panels[i].Series[1].Points) == 0 {
			panels[i].Series = panels[i].Series[:1]
		}
	}
	var windows []chart.Window
	for _, f := range faults {
		end := f.End
		if end.IsZero() && len(rounds) > 0 {
			end = rounds[len(rounds)-1].At
		}
		// A fault injected after the last round (a report read between the
		// injection and the next round) is an instant so far.
		if end.Before(f.Start) {
			end = f.Start
		}
		windows = append(windows, chart.Window{Label: f.Fault, From: f.Start, To: end})
	}
	return chart.Chart{Title: title, Panels: panels, Windows: windows}
}
