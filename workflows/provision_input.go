package workflows

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks"
)

// ProvisionInput asks for one operation on one stack.
type ProvisionInput struct {
	// Program is a stacks.Catalog program; Stack names its instance (dev, prod...).
	Program string `json:"program"`
	Stack   string `json:"stack"`
	// Operation is up (default), preview, refresh or destroy.
	Operation string         `json:"operation,omitempty"`
	Config    map[string]any `json:"config,omitempty"`
	Requester string         `json:"requester,omitempty"`
	// RequesterSignature authenticates the requester when a change needs
	// approval (required unless the directory sets allowUnsigned).
	RequesterSignature *RequesterSignature `json:"requesterSignature,omitempty"`
	// Approval says who approves when a policy requires it (default: group sre),
	// and whether to ask even when no policy does.
	Approval *ProvisionApproval `json:"approval,omitempty"`
	// TTL makes the stack ephemeral: it is destroyed when the TTL runs out.
	TTL string `json:"ttl,omitempty"`
	// Compensation on failure after changes: destroy (default; a stack that
	// existed before is reverted instead), revert, or keep.
	Compensation string `json:"compensation,omitempty"`
	// Configure runs ConfigureHosts on the stack's hosts after an up; its
	// inventory is the stack's "hosts" output, so leave inventory out.
	Configure *ConfigureInput `json:"configure,omitempty"`
}

// ProvisionApproval configures the approval step.
type ProvisionApproval struct {
	Always    bool     `json:"always,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Quorum    int      `json:"quorum,omitempty"`
	Expiry    string   `json:"expiry,omitempty"`
}

// Compensation modes.
const (
	CompensateDestroy = "destroy"
	CompensateRevert  = "revert"
	CompensateKeep    = "keep"
)

var stackName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ProvisionWorkflowID is the one workflow ID per stack: Temporal then refuses
// a second operation on a stack while one runs.
func ProvisionWorkflowID(program, stack string) string {
	return "provision-" + program + "-" + stack
}

// Validate implements Input; it checks the configuration against the program.
func (in ProvisionInput) Validate() error {
	program, ok := stacks.Lookup(in.Program)
	switch {
	case in.Program == "":
		return &FieldError{Field: "program", Problem: "is required", Fix: "use one of: " + strings.Join(stacks.Names(), ", ")}
	case !ok:
		return &FieldError{Field: "program", Problem: fmt.Sprintf("unknown program %q", in.Program), Fix: "use one of: " + strings.Join(stacks.Names(), ", ")}
	case !stackName.MatchString(in.Stack):
		return &FieldError{Field: "stack", Problem: fmt.Sprintf("%q is not a stack name", in.Stack), Fix: "use lowercase letters, digits and dashes, e.g. \"dev\""}
	case !slices.Contains([]string{"", stackop.OpUp, stackop.OpPreview, stackop.OpRefresh, stackop.OpDestroy}, in.Operation):
		return &FieldError{Field: "operation", Problem: fmt.Sprintf("unknown operation %q", in.Operation), Fix: "use up, preview, refresh or destroy"}
	case !slices.Contains([]string{"", CompensateDestroy, CompensateRevert, CompensateKeep}, in.Compensation):
		return &FieldError{Field: "compensation", Problem: fmt.Sprintf("unknown mode %q", in.Compensation), Fix: "use destroy, revert or keep"}
	}
	if _, err := in.resolve(program); err != nil {
		var ce *stacks.ConfigError
		if errors.As(err, &ce) {
			return &FieldError{Field: "config." + ce.Key, Problem: ce.Problem, Fix: ce.Fix}
		}
		return err
	}
	if in.TTL != "" {
		if d, err := parseDuration(in.TTL, 0); err != nil || d <= 0 {
			return &FieldError{Field: "ttl", Problem: fmt.Sprintf("%q is not a positive duration", in.TTL), Fix: `use Go duration syntax, e.g. "2h"`}
		}
	}
	if c := in.Configure; c != nil {
		if c.Inventory.Stack != nil || len(c.Inventory.Hosts) > 0 {
			return &FieldError{Field: "configure.inventory", Problem: "is set", Fix: "leave it out: the configuration step configures this stack's hosts"}
		}
		if err := in.configureInput().Validate(); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: "configure." + fe.Field, Problem: fe.Problem, Fix: fe.Fix}
			}
			return err
		}
	}
	if a := in.Approval; a != nil && a.Expiry != "" {
		if d, err := parseDuration(a.Expiry, 0); err != nil || d <= 0 {
			return &FieldError{Field: "approval.expiry", Problem: fmt.Sprintf("%q is not a positive duration", a.Expiry), Fix: `use Go duration syntax, e.g. "24h"`}
		}
	}
	return nil
}

func (in ProvisionInput) operation() string {
	if in.Operation == "" {
		return stackop.OpUp
	}
	return in.Operation
}

func (in ProvisionInput) compensation() string {
	if in.Compensation == "" {
		return CompensateDestroy
	}
	return in.Compensation
}

// withDefaults fills in the operation, the compensation and the program's
// configuration defaults from the catalog: recorded once (decideOnce), they
// are what the run applies even after a release changes the catalog.
func (in ProvisionInput) withDefaults() ProvisionInput {
	in.Operation, in.Compensation = in.operation(), in.compensation()
	program, _ := stacks.Lookup(in.Program)
	if cfg, err := in.resolve(program); err == nil {
		in.Config = cfg
	}
	if in.Configure != nil {
		c := in.Configure.withDefaults()
		in.Configure = &c
	}
	return in
}

// resolve checks the configuration; a destroy does not run the program, so
// it needs no required values.
func (in ProvisionInput) resolve(program stacks.Program) (map[string]any, error) {
	if in.operation() == stackop.OpDestroy {
		return program.ResolveExisting(in.Config)
	}
	return program.Resolve(in.Config)
}

// configureInput is the configuration step's request: the stack's hosts.
func (in ProvisionInput) configureInput() ConfigureInput {
	c := *in.Configure
	c.Inventory = playbook.Inventory{Stack: &stackop.Ref{Program: in.Program, Stack: in.Stack}}
	if c.Requester == "" {
		c.Requester = in.Requester
	}
	return c
}

// ConfigureWorkflowID is the configuration step's ID for a stack.
func ConfigureWorkflowID(program, stack string) string {
	return "configure-" + program + "-" + stack
}
