// Package activityref holds typed references to infraflow's activities. A
// reference names a registered activity and fixes its argument and result
// types, so a workflow calls an activity with the right types without
// importing the activities package (and the Pulumi, Ansible, OPA and cloud
// clients it links), and the worker's registration does not compile when an
// activity's signature drifts from its reference.
//
// The names are the activity types in workflow histories: running workflows
// depend on them, so a name never changes.
package activityref

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"
)

// Activity is an activity taking one argument and returning a result.
type Activity[In, Out any] struct{ name string }

// Name is the activity type the worker registers the activity under.
func (a Activity[In, Out]) Name() string { return a.name }

// Start schedules the activity with ctx's activity options.
func (a Activity[In, Out]) Start(ctx workflow.Context, in In) Future[Out] {
	return Future[Out]{workflow.ExecuteActivity(ctx, a.name, in)}
}

// Run executes the activity with ctx's activity options and waits for its result.
func (a Activity[In, Out]) Run(ctx workflow.Context, in In) (Out, error) {
	return a.Start(ctx, in).Get(ctx)
}

// Activity2 is an activity taking two arguments. Such activities predate the
// one-input-struct rule; their argument lists are in running workflows'
// histories, so they stay as they are on the wire.
type Activity2[In1, In2, Out any] struct{ name string }

// Name is the activity type the worker registers the activity under.
func (a Activity2[In1, In2, Out]) Name() string { return a.name }

// Run executes the activity with ctx's activity options and waits for its result.
func (a Activity2[In1, In2, Out]) Run(ctx workflow.Context, in1 In1, in2 In2) (Out, error) {
	return Future[Out]{workflow.ExecuteActivity(ctx, a.name, in1, in2)}.Get(ctx)
}

// NoResult is an activity taking one argument and returning only an error.
type NoResult[In any] struct{ name string }

// Name is the activity type the worker registers the activity under.
func (a NoResult[In]) Name() string { return a.name }

// Run executes the activity with ctx's activity options and waits for it.
func (a NoResult[In]) Run(ctx workflow.Context, in In) error {
	return workflow.ExecuteActivity(ctx, a.name, in).Get(ctx, nil)
}

// Future is the result of a started activity.
type Future[Out any] struct{ f workflow.Future }

// Get waits for the activity and decodes its result.
func (f Future[Out]) Get(ctx workflow.Context) (Out, error) {
	var out Out
	err := f.f.Get(ctx, &out)
	return out, err
}

// defined lists every reference's name, in definition order; the define
// functions are the only way to make a reference with a name, so no
// reference can be missing from Names.
var defined []string

func named(name string) string {
	if slices.Contains(defined, name) {
		panic(fmt.Sprintf("activityref: activity %q is defined twice", name))
	}
	defined = append(defined, name)
	return name
}

func define[In, Out any](name string) Activity[In, Out] {
	return Activity[In, Out]{name: named(name)}
}

func define2[In1, In2, Out any](name string) Activity2[In1, In2, Out] {
	return Activity2[In1, In2, Out]{name: named(name)}
}

func defineNoResult[In any](name string) NoResult[In] {
	return NoResult[In]{name: named(name)}
}

// Names lists the name of every activity reference; the worker registers an
// activity under each.
func Names() []string { return slices.Clone(defined) }
