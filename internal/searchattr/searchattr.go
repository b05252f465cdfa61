// Package searchattr defines infraflow's custom search attributes, so
// `temporal workflow list --query` and the Web UI can filter infraflow's
// workflows. It does no I/O: the worker registers the attributes on its
// namespace, and CreateCommands says how an administrator can.
package searchattr

import (
	"fmt"
	"sort"

	enumspb "go.temporal.io/api/enums/v1"
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

// CreateCommands returns the `temporal` CLI commands that register the attributes
// on a cluster the worker may not administer itself.
func CreateCommands(namespace string) []string {
	var cmds []string
	for _, name := range Names(All()) {
		cmds = append(cmds, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s",
			namespace, name, All()[name].String()))
	}
	return cmds
}

// Names lists the attributes of m by name, sorted.
func Names(m map[string]enumspb.IndexedValueType) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
