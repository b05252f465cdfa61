package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/approvers"
	"github.com/infraflow/infraflow/internal/directory"
)

// ResolveApprovers expands groups through the worker's directory into people,
// so the workflow records exactly who was eligible when the request opened.
func (a *Activities) ResolveApprovers(_ context.Context, in approvers.ResolveApproversInput) ([]string, error) {
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
				approvers.ErrTypeUnknownGroup, nil)
		}
		people = append(people, members...)
	}
	sort.Strings(people)
	return slices.Compact(people), nil
}

// ResolveDeciders is ResolveApprovers plus everything needed to check
// signatures: the eligible people's and the requester's keys, the relays'
// keys and the directory's allowUnsigned and signature window.
func (a *Activities) ResolveDeciders(ctx context.Context, in approvers.ResolveDecidersInput) (approvers.Deciders, error) {
	eligible, err := a.ResolveApprovers(ctx, approvers.ResolveApproversInput{People: in.People, Groups: in.Groups})
	if err != nil {
		return approvers.Deciders{}, err
	}
	dir := a.Directory
	if dir == nil {
		dir = &directory.Directory{}
	}
	window, err := dir.Window()
	if err != nil {
		return approvers.Deciders{}, temporal.NewNonRetryableApplicationError("the worker's directory has a bad signatureWindow: "+err.Error(), "BadDirectory", err)
	}
	out := approvers.Deciders{Eligible: eligible, Keys: map[string][]string{}, Relays: dir.RelayKeys(),
		AllowUnsigned: dir.AllowUnsigned, SignatureWindow: window.String()}
	for _, p := range append(slices.Clone(eligible), in.Requester) {
		if keys := dir.KeysOf(p); p != "" && len(keys) > 0 {
			out.Keys[p] = keys
		}
	}
	return out, nil
}
