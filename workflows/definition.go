// Package workflows holds infraflow's workflows: deterministic code that
// decides, and leaves every side effect to activities.
package workflows

import (
	"encoding/json"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/infraflow/infraflow/internal/searchattr"
)

// Definition is one workflow as the worker registers it and the starter offers it.
type Definition struct {
	// Name is the workflow type, as given to `temporal workflow start --type`.
	Name string
	// Command is the starter subcommand that launches it.
	Command string
	Summary string
	// Example is an input a person can paste into the CLI.
	Example string
	// Entry is the registered function; it takes the raw payload so that input
	// problems become a non-retryable InvalidInput failure naming the field,
	// instead of a lenient decode that ignores unknown fields.
	Entry any
	// CheckInput decodes and validates input exactly as the workflow will, so the
	// starter can refuse bad input before anything starts.
	CheckInput func(data []byte) error
	// ID, when set, derives the workflow ID from valid input (e.g. one per stack).
	ID func(data []byte) string
	// Versioning says how a run moves between builds of a versioned worker
	// (--deployment-name/--build-id). Pinned runs finish on the build they
	// began on; AutoUpgrade runs move to the current build at their next
	// task, so every change to them that alters commands is patched with
	// workflow.GetVersion (the replay tests hold them to it).
	Versioning workflow.VersioningBehavior
	// decide decodes, validates and defaults raw input (see decideInput).
	decide func(raw converter.RawValue) (json.RawMessage, error)
}

func define[I Input, O any](name, command, summary, example string, run func(workflow.Context, I) (O, error)) Definition {
	return Definition{
		// Most infraflow workflows wait for people or timers (approvals for a
		// day, TTLs for months): keeping old builds alive that long is not an
		// option, so they follow the current build. See pinned for the others.
		Versioning: workflow.VersioningBehaviorAutoUpgrade,
		Name:       name,
		Command:    command,
		Summary:    summary,
		Example:    example,
		Entry: func(ctx workflow.Context, raw converter.RawValue) (O, error) {
			// Marking the run as infraflow's first makes even rejected requests
			// visible to `starter list` and the audit trail.
			if err := workflow.UpsertTypedSearchAttributes(ctx, searchattr.Kind.ValueSet(name)); err != nil {
				var zero O
				return zero, err
			}
			in, err := decideOnce[I](ctx, name, raw)
			if err != nil {
				var zero O
				return zero, err
			}
			return run(ctx, in)
		},
		decide: func(raw converter.RawValue) (json.RawMessage, error) {
			in, err := decodeWorkflowInput[I](raw)
			if err != nil {
				return nil, err
			}
			return json.Marshal(withDefaults(in))
		},
		CheckInput: func(data []byte) error {
			_, err := DecodeInput[I](data)
			return err
		},
	}
}

// withID gives a definition the workflow ID its input determines.
func withID[I Input](d Definition, id func(I) string) Definition {
	d.ID = func(data []byte) string {
		in, err := DecodeInput[I](data)
		if err != nil {
			return ""
		}
		return id(in)
	}
	return d
}

// pinned marks a workflow that finishes in minutes: it completes on the
// build it began on, and needs no patching when it changes.
func pinned(d Definition) Definition {
	d.Versioning = workflow.VersioningBehaviorPinned
	return d
}

// All lists every infraflow workflow.
func All() []Definition {
	return append([]Definition(nil), definitions...)
}

// definitions are the workflows this build registers. A test build of the
// next release (tests/testdata/nextrelease) changes one by wrapping its entry.
var definitions = []Definition{
	pinned(define("PlatformCheck", "platform-check",
		"report the version and health of every tool the platform uses",
		`{"tools": ["temporal-server", "pulumi"]}`, PlatformCheck)),
	define("Approval", "approval",
		"ask people to approve or reject a change and wait for their decision",
		`{"title": "scale web to 40 replicas", "requester": "dave", "groups": ["sre"], "quorum": 1, "expiry": "24h"}`, Approval),
	withID(define("ProvisionStack", "provision",
		"preview, check policy, get approval when needed, apply and verify a Pulumi stack",
		`{"program": "local", "stack": "dev", "config": {"image": "nginx:1.27", "replicas": 3, "hosts": 2}, "requester": "dave"}`, ProvisionStack),
		func(in ProvisionInput) string { return ProvisionWorkflowID(in.Program, in.Stack) }),
	define("ConfigureHosts", "configure",
		"check, approve when needed, apply an Ansible playbook, retry failed hosts, prove idempotency and verify",
		`{"playbook": "site.yml", "inventory": {"stack": {"program": "local", "stack": "dev"}}, "extraVars": {"app_message": "hello"}, "requester": "dave"}`, ConfigureHosts),
	define("DriftCheck", "drift",
		"refresh a stack in preview mode; on drift, start a remediation that waits for approval",
		`{"program": "local", "stack": "dev"}`, DriftCheck),
	define("ForecastScale", "forecast-scale",
		"one forecast-and-scale tick: fetch demand, forecast, decide with guardrails, apply as a compare-and-set, record",
		`{"metrics": {"query": "sum(infraflow_trace_demand)", "step": "1s", "window": "10m", "season": "288s"}, "target": {"kind": "deployment", "name": "web"}, "policy": {"minReplicas": 1, "maxReplicas": 20, "targetUtilization": 0.7, "capacityPerReplica": 1000, "startupLead": "3s"}}`, ForecastScale),
	define("GameDay", "gameday",
		"a chaos experiment: approval, steady state first, faults with continuous probes and aborts, rollbacks that always run, recovery, report",
		`{"spec": {"title": "web holds 200ms of latency", "probeInterval": "5s", "steadyState": {"probes": [{"name": "app", "kind": "http", "http": {"url": "http://127.0.0.1:18080/", "percentile": 95, "maxLatency": "500ms"}}]}, "method": [{"name": "slow-app", "kind": "latency", "duration": "1m", "toxic": {"proxy": "app", "latency": "200ms"}}]}, "requester": "dave"}`, GameDay),
}

// Registry is the part of a worker (or test environment) workflows register with.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow under its type name.
func Register(r Registry) {
	for _, d := range All() {
		r.RegisterWorkflowWithOptions(d.Entry, workflow.RegisterOptions{Name: d.Name, VersioningBehavior: d.Versioning})
	}
}

// Lookup finds a workflow by type name.
func Lookup(name string) (Definition, bool) {
	for _, d := range All() {
		if d.Name == name {
			return d, true
		}
	}
	return Definition{}, false
}
