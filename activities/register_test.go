package activities

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/infraflow/infraflow/internal/activityref"
)

// recorder is a Registry that keeps what was registered.
type recorder struct {
	names []string
	fns   map[string]any
}

func (r *recorder) RegisterActivityWithOptions(fn any, o activity.RegisterOptions) {
	r.names = append(r.names, o.Name)
	if r.fns == nil {
		r.fns = map[string]any{}
	}
	r.fns[o.Name] = fn
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Every reference a workflow can call has an activity registered under its
// name, and nothing else is registered: a reference defined but not
// registered would leave its workflows' activity tasks unanswered.
func TestEveryActivityReferenceIsRegistered(t *testing.T) {
	var r recorder
	Register(&r, &Activities{})
	want, got := sorted(activityref.Names()), sorted(r.names)
	if len(want) == 0 {
		t.Fatal("activityref defines no activity")
	}
	if !slices.Equal(got, want) {
		t.Errorf("registered %v\nreferences %v", got, want)
	}
	if dup := slices.Compact(slices.Clone(got)); len(dup) != len(got) {
		t.Errorf("an activity is registered twice: %v", got)
	}
}

// Histories record activities by name, and each activity was registered by
// its method name before the references existed: every exported method of
// Activities is still registered, under its own name.
func TestActivitiesKeepTheirMethodNames(t *testing.T) {
	var r recorder
	Register(&r, &Activities{})
	typ := reflect.TypeFor[*Activities]()
	ctx := reflect.TypeFor[context.Context]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Type.NumIn() < 2 || m.Type.In(1) != ctx {
			continue // not an activity
		}
		fn, ok := r.fns[m.Name]
		if !ok {
			t.Errorf("method %s is not registered (add a reference in internal/activityref and register it)", m.Name)
			continue
		}
		// The registered function is the method value of the same name.
		if reflect.TypeOf(fn) != reflect.ValueOf(&Activities{}).Method(i).Type() {
			t.Errorf("%s is registered with %T, not the method of that name", m.Name, fn)
		}
	}
	if len(r.fns) != len(r.names) {
		t.Errorf("%d names registered for %d functions", len(r.names), len(r.fns))
	}
}

// The SDK accepts every registration (it checks the function's shape) and
// finds each activity under its reference's name.
func TestTheSDKAcceptsTheRegistrations(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	Register(env, &Activities{})
	for _, name := range activityref.Names() {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: %v", name, p)
				}
			}()
			env.OnActivity(name) // panics for a name nothing is registered under
		}()
	}
}
