// Package stackop describes a Pulumi stack operation as workflows and
// activities exchange it: the request, the plan a preview makes, the engine's
// progress, the result, the verification and the policies' decision. It does
// no I/O; internal/pulumistack runs the operations and internal/policy
// evaluates the policies.
package stackop

import (
	"fmt"
	"strings"
)

// Stack operations.
const (
	OpUp      = "up"
	OpPreview = "preview"
	OpRefresh = "refresh"
	OpDestroy = "destroy"
)

// ChangeSame is the op of a planned step that leaves its resource as it is.
const ChangeSame = "same"

// EngineProgressSignal carries a Progress from ApplyStack to its workflow.
const EngineProgressSignal = "engineProgress"

// ErrTypeEngineFailed marks an operation the Pulumi engine ran and a resource
// failed: running it again repeats the failure, so the workflow compensates.
const ErrTypeEngineFailed = "PulumiEngineFailed"

// ErrTypeNoStack marks an operation on a stack that was never created and
// that the operation does not create (a refresh): it is bad input.
const ErrTypeNoStack = "PulumiStackNotFound"

// Ref names one stack of one program.
type Ref struct {
	Program string `json:"program"`
	Stack   string `json:"stack"`
}

func (r Ref) String() string { return r.Program + "/" + r.Stack }

// StackRequest names a stack, the operation and the configuration to apply.
type StackRequest struct {
	Program   string         `json:"program"`
	Stack     string         `json:"stack"`
	Operation string         `json:"operation"`
	Config    map[string]any `json:"config,omitempty"`
}

// Ref is the stack the request is about.
func (r StackRequest) Ref() Ref {
	return Ref{Program: r.Program, Stack: r.Stack}
}

// Change is one planned resource change, as policies and people see it.
type Change struct {
	Op   string `json:"op"`
	Type string `json:"type"`
	Name string `json:"name"`
	// Diffs are the input keys that change.
	Diffs []string       `json:"diffs,omitempty"`
	Old   map[string]any `json:"old,omitempty"`
	New   map[string]any `json:"new,omitempty"`
}

// Plan is what a preview says would happen.
type Plan struct {
	Changes []Change       `json:"changes"`
	Summary map[string]int `json:"summary"`
}

// NewPlan counts the changes by op: the steps of the stack's own resources
// (the engine's summary also counts the stack itself and its providers).
func NewPlan(changes []Change) Plan {
	summary := map[string]int{}
	for _, c := range changes {
		summary[c.Op]++
	}
	return Plan{Changes: changes, Summary: summary}
}

// Changing says whether anything but "same" is planned. It reads the
// changes, of which the summary is a count (NewPlan).
func (p Plan) Changing() bool {
	for _, c := range p.Changes {
		if c.Op != ChangeSame {
			return true
		}
	}
	return false
}

// Text is a short diff summary for people (approval requests, logs).
func (p Plan) Text() string {
	var lines []string
	for _, c := range p.Changes {
		if c.Op == ChangeSame {
			continue
		}
		line := fmt.Sprintf("%-8s %s %s", c.Op, c.Type, c.Name)
		for _, k := range c.Diffs {
			line += fmt.Sprintf("\n           %s: %v -> %v", k, c.Old[k], c.New[k])
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "no changes"
	}
	return strings.Join(lines, "\n")
}

// Progress is where a running engine operation is.
type Progress struct {
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Current string `json:"current,omitempty"`
}

// PreviewResult is what an operation would do, and what the stack was before.
type PreviewResult struct {
	Plan Plan `json:"plan"`
	// ResourcesBefore is 0 when this run would create the stack.
	ResourcesBefore int `json:"resourcesBefore"`
	// LastGoodConfig is the configuration of the last successful up, for reverts.
	LastGoodConfig map[string]any `json:"lastGoodConfig,omitempty"`
	// Recovered lists what had to be repaired after an earlier, killed run.
	Recovered []string `json:"recovered,omitempty"`
}

// ApplyResult is a finished engine operation.
type ApplyResult struct {
	Outputs   map[string]any `json:"outputs,omitempty"`
	Resources int            `json:"resources"`
	Recovered []string       `json:"recovered,omitempty"`
}

// Verification says whether the live infrastructure matches the stack.
type Verification struct {
	InSync    bool     `json:"inSync"`
	Drift     []Change `json:"drift,omitempty"`
	Pending   []string `json:"pending,omitempty"`
	Resources int      `json:"resources"`
}

// PolicyInput is what the policies see of a plan.
type PolicyInput struct {
	Program   string   `json:"program"`
	Stack     string   `json:"stack"`
	Operation string   `json:"operation"`
	Changes   []Change `json:"changes"`
}

// Outcomes of a policy check.
const (
	PolicyAllow           = "allow"
	PolicyRequireApproval = "require-approval"
	PolicyDeny            = "deny"
)

// PolicyDecision is the policies' verdict on a plan, with their messages.
type PolicyDecision struct {
	Outcome         string   `json:"outcome"`
	Deny            []string `json:"deny,omitempty"`
	RequireApproval []string `json:"requireApproval,omitempty"`
}
