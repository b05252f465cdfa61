// Package searchattr defines infraflow's custom search attributes and registers
// them on a namespace, so `temporal workflow list --query` and the Web UI can
// filter infraflow's workflows.
package searchattr

import (
	"context"
	"fmt"
	"sort"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

var (
	// Kind is the workflow type of every infraflow workflow; its presence marks a
	// workflow as infraflow's, which is how `starter list` finds them.
	Kind = temporal.NewSearchAttributeKeyKeyword("InfraflowKind")
	// Stack is the Pulumi stack a workflow operates on.
	Stack = temporal.NewSearchAttributeKeyKeyword("InfraflowStack")
	// ApprovalState is pending, approved, rejected or expired.
	ApprovalState = temporal.NewSearchAttributeKeyKeyword("InfraflowApprovalState")
	// Requester is who asked for the operation.
	Requester = temporal.NewSearchAttributeKeyKeyword("InfraflowRequester")

	// The latest forecast-and-scale tick of a workflow, for filtering ticks in
	// `temporal workflow list --query` and the Web UI. They hold names, counts
	// and model labels only: no URLs, queries or credentials.
	//
	// ScaleTarget names what a ForecastScale tick scales, e.g.
	// "kubernetes/default/deployment/web" or "aws-asg/web-asg".
	ScaleTarget = temporal.NewSearchAttributeKeyKeyword("InfraflowScaleTarget")
	// ScaleReplicas is the replica count the tick decided.
	ScaleReplicas = temporal.NewSearchAttributeKeyInt64("InfraflowScaleReplicas")
	// ScaleModel is the forecasting model the tick used ("reactive" when none).
	ScaleModel = temporal.NewSearchAttributeKeyKeyword("InfraflowScaleModel")
	// ScaleOutcome is applied, unchanged, forecast-only, held, conflict,
	// already-applied, rejected or failed.
	ScaleOutcome = temporal.NewSearchAttributeKeyKeyword("InfraflowScaleOutcome")
)

// All returns every custom search attribute with its type.
func All() map[string]enumspb.IndexedValueType {
	keys := []temporal.SearchAttributeKey{Kind, Stack, ApprovalState, Requester,
		ScaleTarget, ScaleReplicas, ScaleModel, ScaleOutcome}
	all := make(map[string]enumspb.IndexedValueType, len(keys))
	for _, k := range keys {
		all[k.GetName()] = k.GetValueType()
	}
	return all
}

// Ensure registers whichever of the attributes the namespace lacks; it is a
// no-op on a namespace that has them all.
func Ensure(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range All() {
		existing, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case existing != typ:
			return fmt.Errorf("search attribute %s exists in namespace %q as %s, infraflow needs %s", name, namespace, existing, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("registering search attributes %v in namespace %q: %w", names(missing), namespace, err)
	}
	return nil
}

// CreateCommands returns the `temporal` CLI commands that register the attributes
// on a cluster the worker may not administer itself.
func CreateCommands(namespace string) []string {
	var cmds []string
	for _, name := range names(All()) {
		cmds = append(cmds, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s",
			namespace, name, All()[name].String()))
	}
	return cmds
}

func names(m map[string]enumspb.IndexedValueType) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
