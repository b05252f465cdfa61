// Package stackop describes a Pulumi stack operation as workflows and
// activities exchange it: the request, the plan a preview makes, the engine's
// progress, the result, the verification and the policies' decision. It does
// no I/O; internal/pulumistack runs the operations and internal/policy
// evaluates the policies.
package stackop

import (
	"encoding/json"
	"fmt"
	"slices"
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

// ErrTypePlanRefused marks an apply whose saved plan cannot be used: it is
// missing, or its content no longer has the digest that was approved. Nothing
// was applied, and retrying cannot help.
const ErrTypePlanRefused = "PulumiPlanRefused"

// ErrTypePlanStale marks an apply the engine stopped because a step was not
// in the saved plan: the stack changed after the preview. Only planned steps
// ran; the workflow previews again.
const ErrTypePlanStale = "PulumiPlanStale"

// ErrTypeStackLocked marks an operation refused because a Pulumi lock on the
// stack belongs to a process that may still be running (not an infraflow
// worker's, or one on another machine whose worker still holds the stack):
// it is left for a person to clear with `pulumi cancel`.
const ErrTypeStackLocked = "PulumiStackLocked"

// ErrTypeNoStack marks an operation on a stack that was never created and
// that the operation does not create (a refresh): it is bad input.
const ErrTypeNoStack = "PulumiStackNotFound"

// Ref names one stack of one program.
type Ref struct {
	Program string `json:"program"`
	Stack   string `json:"stack"`
}

// Placement is where a stack's operations run: a host-bound stack's site
// and the task queue of its work; an empty TaskQueue is the shared queue.
type Placement struct {
	Site      string `json:"site,omitempty"`
	TaskQueue string `json:"taskQueue,omitempty"`
}

func (r Ref) String() string { return r.Program + "/" + r.Stack }

// StackRequest names a stack, the operation and the configuration to apply.
type StackRequest struct {
	Program   string         `json:"program"`
	Stack     string         `json:"stack"`
	Operation string         `json:"operation"`
	Config    map[string]any `json:"config,omitempty"`
	// SavePlan asks a preview of an up to save its update plan.
	SavePlan bool `json:"savePlan,omitempty"`
	// Plan constrains an up to the saved plan (pulumi up --plan).
	Plan *SavedPlan `json:"plan,omitempty"`
}

// SavedPlan is an update plan a preview saved beside the stack's state,
// named by the SHA-256 of its content: an apply refuses a file whose content
// no longer has that digest.
type SavedPlan struct {
	Digest string `json:"digest"`
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
		if c.Op == "create" && len(c.New) > 0 {
			// What is created is all new: people see every input (as JSON,
			// whose keys come sorted).
			inputs, _ := json.Marshal(c.New)
			line += "\n           " + string(inputs)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "no changes"
	}
	return strings.Join(lines, "\n")
}

// WithinPlan says whether every change current would make is one that
// approved makes too: the same step, on the same resource, to the same
// inputs. What the resources were before does not count, so a plan made again
// after an unrelated refresh, or after some approved steps already ran, is
// still within the approved one.
func WithinPlan(approved, current Plan) bool {
	left := changeKeys(approved)
	for _, k := range changeKeys(current) {
		i := slices.Index(left, k)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

func changeKeys(p Plan) []string {
	var keys []string
	for _, c := range p.Changes {
		if c.Op == ChangeSame {
			continue
		}
		diffs := slices.Clone(c.Diffs)
		slices.Sort(diffs)
		// json.Marshal orders map keys, so equal inputs give equal text.
		key, _ := json.Marshal(struct {
			Op, Type, Name string
			Diffs          []string
			New            map[string]any
		}{c.Op, c.Type, c.Name, diffs, c.New})
		keys = append(keys, string(key))
	}
	slices.Sort(keys)
	return keys
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
	// SavedPlan is the update plan the preview saved, when asked to.
	SavedPlan *SavedPlan `json:"savedPlan,omitempty"`
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
