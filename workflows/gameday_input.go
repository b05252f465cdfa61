package workflows

import (
	"errors"
	"fmt"
	"strings"

	"github.com/infraflow/infraflow/internal/gameday"
)

// GameDayInput starts a game day: the experiment spec (internal/gameday/SPEC.md)
// and who asks for it. `starter gameday run -f spec.yaml` builds it from a
// YAML file; `temporal workflow start --input` takes it as JSON.
type GameDayInput struct {
	Spec               gameday.Experiment  `json:"spec"`
	Requester          string              `json:"requester,omitempty"`
	RequesterSignature *RequesterSignature `json:"requesterSignature,omitempty"`
}

// maxProbeRounds bounds the rounds one run records (method and recovery, at
// the probe interval), so its history stays far below Temporal's limits.
const maxProbeRounds = 1000

// Validate checks the spec; its first problem names the field under "spec.".
func (in GameDayInput) Validate() error {
	if err := in.Spec.Validate(); err != nil {
		var list gameday.Errors
		if errors.As(err, &list) && len(list) > 0 {
			first := list[0]
			return &FieldError{Field: "spec." + first.Field, Problem: first.Problem, Fix: first.Fix}
		}
		return &FieldError{Field: "spec", Problem: err.Error()}
	}
	spec := in.Spec.WithDefaults()
	interval := spec.ProbeInterval.Value()
	if rounds := int((spec.MethodLength() + 2*spec.RecoveryTimeout.Value()) / interval); rounds > maxProbeRounds {
		return &FieldError{Field: "spec.probeInterval", Problem: fmt.Sprintf("gives %d probe rounds over the method and recovery, more than the %d one game day records", rounds, maxProbeRounds),
			Fix: "probe less often, or split the experiment into shorter game days"}
	}
	for i, a := range append(append([]gameday.Action(nil), spec.Remediation...), rollbackActions(spec)...) {
		if a.Kind == gameday.ActionConfigureHosts {
			if _, err := DecodeInput[ConfigureInput](a.Input); err != nil {
				return &FieldError{Field: fmt.Sprintf("spec.%s.input", actionField(spec, i)), Problem: err.Error(), Fix: "give a ConfigureHosts input, as `starter configure` takes it"}
			}
		}
	}
	return nil
}

func (in GameDayInput) withDefaults() GameDayInput {
	in.Spec = in.Spec.WithDefaults()
	if strings.TrimSpace(in.Requester) == "" {
		in.Requester = "unknown"
	}
	return in
}

func rollbackActions(spec gameday.Experiment) []gameday.Action {
	var out []gameday.Action
	for _, r := range spec.Rollbacks {
		out = append(out, r.Action)
	}
	return out
}

// actionField names the i-th action of remediation followed by rollbacks.
func actionField(spec gameday.Experiment, i int) string {
	if i < len(spec.Remediation) {
		return fmt.Sprintf("remediation[%d]", i)
	}
	return fmt.Sprintf("rollbacks[%d]", i-len(spec.Remediation))
}
