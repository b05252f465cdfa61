package gameday

import "time"

// What the GameDay workflow and its activities pass each other. Plain data:
// the workflow records every value in its history.

// ProbeRequest asks for one round of the steady-state probes.
type ProbeRequest struct {
	Probes []Probe `json:"probes"`
	// Phase labels the round in the timeline: before, method, recovery.
	Phase string `json:"phase"`
	// RetryUnmeasured asks for a round in which some probe could not
	// measure, and every other held, to fail with ErrTypeUnmeasured (which
	// the workflow's retry policy retries) instead of being returned.
	RetryUnmeasured bool `json:"retryUnmeasured,omitempty"`
}

// ProbeResult is one probe's measurement in a round. Value is in the probe's
// own unit: seconds for an HTTP latency percentile, the query's value, ready
// replicas, InService instances.
type ProbeResult struct {
	Probe  string    `json:"probe"`
	Kind   ProbeKind `json:"kind"`
	Value  float64   `json:"value"`
	OK     bool      `json:"ok"`
	Detail string    `json:"detail,omitempty"`
	// Unmeasured says the probe got no measurement at all (its target or
	// Prometheus could not be reached), as opposed to one out of tolerance.
	Unmeasured bool `json:"unmeasured,omitempty"`
}

// ErrTypeUnmeasured is the error a round asked to RetryUnmeasured fails
// with when it is OnlyUnmeasured. The error's details hold the round.
const ErrTypeUnmeasured = "SteadyStateUnmeasured"

// PhaseBefore labels the round that decides whether there is a steady state
// to break at all.
const PhaseBefore = "before"

// OnlyUnmeasured reports whether the round failed only because some probe
// could not measure: every probe that did measure held.
func (r ProbeRound) OnlyUnmeasured() bool {
	unmeasured := false
	for _, res := range r.Results {
		switch {
		case res.Unmeasured:
			unmeasured = true
		case !res.OK:
			return false
		}
	}
	return unmeasured
}

// ProbeRound is every probe measured once.
type ProbeRound struct {
	At time.Time `json:"at"`
	// Worker is the worker process (pid@host) that measured it.
	Worker  string        `json:"worker,omitempty"`
	Phase   string        `json:"phase"`
	OK      bool          `json:"ok"`
	Results []ProbeResult `json:"results"`
}

// Failed reports whether the round breaches the hypothesis for probe (any
// probe when probe is empty).
func (r ProbeRound) Failed(probe string) bool {
	for _, res := range r.Results {
		if (probe == "" || res.Probe == probe) && !res.OK {
			return true
		}
	}
	return false
}

// FaultRequest injects or undoes one fault. Token names what the fault leaves
// behind (a toxic) so an undo finds it after a worker crash, and an inject
// retried after one does not add a second.
type FaultRequest struct {
	Fault          Fault  `json:"fault"`
	Token          string `json:"token"`
	MaxBlastRadius int    `json:"maxBlastRadius"`
}

// Injection is what an injected fault touched.
type Injection struct {
	Worker  string   `json:"worker,omitempty"`
	Targets []string `json:"targets,omitempty"`
	Detail  string   `json:"detail,omitempty"`
}

// Undo is what undoing a fault did; Verified says the target was read back
// and the fault is gone (the toxic no longer listed by toxiproxy).
type Undo struct {
	Worker   string `json:"worker,omitempty"`
	Removed  bool   `json:"removed"`
	Verified bool   `json:"verified"`
	Detail   string `json:"detail,omitempty"`
}

// FaultWindow is a fault's span on the timeline; End is zero while it is in.
type FaultWindow struct {
	Fault string    `json:"fault"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// ReportRequest asks for a game day's plot.
type ReportRequest struct {
	WorkflowID string        `json:"workflowId"`
	Title      string        `json:"title"`
	Rounds     []ProbeRound  `json:"rounds"`
	Faults     []FaultWindow `json:"faults"`
}

// ReportFiles are the plot's paths on the worker's machine.
type ReportFiles struct {
	PNG string `json:"png"`
	SVG string `json:"svg"`
}

// Notice is a message to the chat channel about a game day.
type Notice struct {
	WorkflowID string `json:"workflowId"`
	Title      string `json:"title"`
	Text       string `json:"text"`
}
