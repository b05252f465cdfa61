// This file is the "next release" of Approval in the worker versioning test
// (tests/versioning_test.go): it is compiled into the workflows package with
// `go build -overlay`, as if a developer had changed Approval and shipped a
// new build. The change adds a step before everything else, patched the way
// the README asks: behind workflow.GetVersion, so runs started on the old
// build replay without it when they move to this one.
package workflows

import (
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// NextReleaseChange is the change ID the versioning test looks for in
// histories.
const NextReleaseChange = "next-release-announces-itself"

func init() {
	for i, d := range definitions {
		if d.Name != "Approval" {
			continue
		}
		previous := d.Entry.(func(workflow.Context, converter.RawValue) (ApprovalStatus, error))
		definitions[i].Entry = func(ctx workflow.Context, raw converter.RawValue) (ApprovalStatus, error) {
			if workflow.GetVersion(ctx, NextReleaseChange, workflow.DefaultVersion, 1) == 1 {
				workflow.GetLogger(ctx).Info("Approval from the next release")
			}
			return previous(ctx, raw)
		}
	}
}
