package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/directory"
)

// ErrTypeUnknownGroup marks a group the directory does not know.
const ErrTypeUnknownGroup = "UnknownGroup"

// ResolveApproversInput names who may decide: people, and groups to expand.
type ResolveApproversInput struct {
	People []string `json:"people,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// ResolveApprovers expands groups through the worker's directory into people,
// so the workflow records exactly who was eligible when the request opened.
func (a *Activities) ResolveApprovers(_ context.Context, in ResolveApproversInput) ([]string, error) {
	people := slices.Clone(in.People)
	dir := a.Directory
	if dir == nil {
		dir = &directory.Directory{}
	}
	for _, group := range in.Groups {
		members, ok := dir.Members(group)
		if !ok {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("group %q is not in the directory (known groups: %s)", group, strings.Join(dir.Groups(), ", ")),
				ErrTypeUnknownGroup, nil)
		}
		people = append(people, members...)
	}
	sort.Strings(people)
	return slices.Compact(people), nil
}
