// Package policy checks planned infrastructure changes against the Rego
// policies in stacks/policies with OPA.
package policy

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/stacks/policies"
)

var (
	prepareOnce sync.Once
	prepared    rego.PreparedEvalQuery
	prepareErr  error
)

func query(ctx context.Context) (rego.PreparedEvalQuery, error) {
	prepareOnce.Do(func() {
		opts := []func(*rego.Rego){rego.Query(policies.Query)}
		files, err := fs.Glob(policies.Files, "*.rego")
		if err != nil {
			prepareErr = err
			return
		}
		for _, f := range files {
			src, err := fs.ReadFile(policies.Files, f)
			if err != nil {
				prepareErr = err
				return
			}
			opts = append(opts, rego.Module(f, string(src)))
		}
		prepared, prepareErr = rego.New(opts...).PrepareForEval(ctx)
	})
	return prepared, prepareErr
}

// Evaluate runs the policies on input (a JSON-shaped value: program, stack,
// operation, changes).
func Evaluate(ctx context.Context, input any) (stackop.PolicyDecision, error) {
	q, err := query(ctx)
	if err != nil {
		return stackop.PolicyDecision{}, fmt.Errorf("compiling policies: %w", err)
	}
	rs, err := q.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return stackop.PolicyDecision{}, fmt.Errorf("evaluating policies: %w", err)
	}
	d := stackop.PolicyDecision{Outcome: stackop.PolicyAllow}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return d, nil
	}
	doc, _ := rs[0].Expressions[0].Value.(map[string]any)
	d.Deny = messages(doc["deny"])
	d.RequireApproval = messages(doc["require_approval"])
	switch {
	case len(d.Deny) > 0:
		d.Outcome = stackop.PolicyDeny
	case len(d.RequireApproval) > 0:
		d.Outcome = stackop.PolicyRequireApproval
	}
	return d, nil
}

func messages(v any) []string {
	set, _ := v.([]any)
	var out []string
	for _, m := range set {
		out = append(out, fmt.Sprint(m))
	}
	sort.Strings(out)
	return out
}
