// Package chaos is the engine behind the game-day activities: faults that
// can be injected and undone, and probes that measure whether a system is
// within tolerance.
//
// Every fault has a stable name chosen by the caller (gameday-<run>-<index>),
// and its Inject and Undo are idempotent, because an activity is retried after
// a worker crash: injecting a fault that is already there changes nothing and
// says so, undoing one that is not there succeeds. Destructive faults (pods,
// processes, instances) record what they chose before acting, where the
// target lives, so a retry finishes the same choice instead of making a
// second one.
//
// Inputs are small structs with json tags, as activities pass them through
// Temporal; the activity layer maps the game-day spec onto them.
package chaos

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// InputError names the field of a fault or probe that is wrong and how to
// fix it. Retrying cannot help; the activity layer makes it non-retryable.
type InputError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *InputError) Error() string {
	msg := fmt.Sprintf("field %q: %s", e.Field, e.Problem)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// NotFoundError is a target that does not exist: a proxy, a workload, a
// group, pods matching nothing. Retrying is unlikely to help.
type NotFoundError struct {
	What string
	Fix  string
}

func (e *NotFoundError) Error() string {
	if e.Fix == "" {
		return e.What + " not found"
	}
	return e.What + " not found; " + e.Fix
}

// UndoResult says what undoing a fault did. Removed is false when there was
// nothing to remove: never injected, or undone already by an earlier attempt.
type UndoResult struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	// Note says what undo cannot do, e.g. that deleted pods come back through
	// their controller rather than through undo.
	Note string `json:"note,omitempty"`
}

// Selection says how many of the targets a selector matched a fault takes:
// Count of them, or Percent (rounded up), never more than MaxFraction of
// them (the blast radius, rounded down). Which ones is decided by Seed alone:
// the same seed over the same targets chooses the same ones.
type Selection struct {
	Count       int     `json:"count,omitempty"`
	Percent     float64 `json:"percent,omitempty"`
	MaxFraction float64 `json:"maxFraction"`
	Seed        int64   `json:"seed"`
}

func (s Selection) validate() error {
	switch {
	case s.Count < 0:
		return &InputError{Field: "count", Problem: fmt.Sprintf("is %d", s.Count), Fix: "give a positive number of targets"}
	case s.Percent < 0 || s.Percent > 100 || math.IsNaN(s.Percent):
		return &InputError{Field: "percent", Problem: fmt.Sprintf("is %v", s.Percent), Fix: "give a percentage from 0 (exclusive) to 100"}
	case s.Count > 0 && s.Percent > 0:
		return &InputError{Field: "count", Problem: "is given together with percent", Fix: "give count or percent, not both"}
	case s.Count == 0 && s.Percent == 0:
		return &InputError{Field: "count", Problem: "is missing (and so is percent)", Fix: "give count (how many targets) or percent (what share of the matching targets)"}
	case !(s.MaxFraction > 0 && s.MaxFraction <= 1):
		return &InputError{Field: "maxFraction", Problem: fmt.Sprintf("is %v", s.MaxFraction),
			Fix: "set the blast radius: the largest share of the matching targets the fault may take, above 0 and at most 1 (e.g. 0.5)"}
	}
	return nil
}

// choice is what a Selection made of the matching targets.
type choice struct {
	Matched int      `json:"matched"`
	Wanted  int      `json:"wanted"`
	Limit   int      `json:"limit"`
	Capped  bool     `json:"capped"`
	Chosen  []string `json:"chosen"`
}

// choose picks from candidates by rank: each candidate's rank is a hash of the
// seed and its name, so the choice depends on neither the order the API
// listed them in nor on the Go release (as a seeded shuffle would).
func (s Selection) choose(candidates []string, what string) (choice, error) {
	c := choice{Matched: len(candidates)}
	c.Wanted = s.Count
	if s.Percent > 0 {
		c.Wanted = int(math.Ceil(s.Percent / 100 * float64(len(candidates))))
	}
	// A hair of slack: 0.3 of 10 is 2.9999999999999996 in floating point.
	c.Limit = int(math.Floor(s.MaxFraction*float64(len(candidates)) + 1e-9))
	take := min(c.Wanted, c.Limit, len(candidates))
	c.Capped = take < c.Wanted
	if take == 0 {
		return c, &InputError{Field: "maxFraction", Problem: fmt.Sprintf("%v of %d matching %s allows none", s.MaxFraction, len(candidates), what),
			Fix: fmt.Sprintf("raise maxFraction to at least %.3g, or match more %s", math.Ceil(1000/float64(len(candidates)))/1000, what)}
	}
	ranked := slices.Clone(candidates)
	rank := func(name string) string {
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(s.Seed))
		sum := sha256.Sum256(append(seed[:], name...))
		return hex.EncodeToString(sum[:])
	}
	slices.SortFunc(ranked, func(a, b string) int { return strings.Compare(rank(a), rank(b)) })
	c.Chosen = ranked[:take]
	slices.Sort(c.Chosen)
	return c, nil
}

// validName keeps fault and proxy names to what every place they go takes
// as it is: toxiproxy's URL paths (no slash), file names and tag keys (those
// use a hash of the name, to stay short).
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$`)

func checkFaultName(name string) error {
	if !validName.MatchString(name) {
		return &InputError{Field: "name", Problem: fmt.Sprintf("%q is not a fault name", name),
			Fix: "name the fault stably from the run, e.g. gameday-<run>-<faultIndex> (letters, digits and . _ : -, at most 200)"}
	}
	return nil
}

// recordKey is a fault's name reduced to what Kubernetes object names, file
// names and tag keys all accept; the name itself is stored beside it.
func recordKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "infraflow-chaos-" + hex.EncodeToString(sum[:8])
}
