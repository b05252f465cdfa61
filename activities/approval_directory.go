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

// ResolveDecidersInput names who may decide and who asked.
type ResolveDecidersInput struct {
	People    []string `json:"people,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Requester string   `json:"requester,omitempty"`
}

// Deciders is what an approval needs to authenticate decisions and its
// requester deterministically: it is recorded in history once, so every
// replay verifies with the same keys.
type Deciders struct {
	// Eligible is who may decide, groups expanded.
	Eligible []string `json:"eligible"`
	// Keys are the registered public keys of the eligible people and the
	// requester, by name.
	Keys map[string][]string `json:"keys,omitempty"`
	// Relays are the trusted relays' keys (the chat server), by relay name.
	Relays map[string][]string `json:"relays,omitempty"`
	// AllowUnsigned is the directory's setting: unsigned decisions and
	// requests are believed as typed.
	AllowUnsigned bool `json:"allowUnsigned"`
	// SignatureWindow bounds |workflow time - signedAt| (a Go duration).
	SignatureWindow string `json:"signatureWindow"`
}

// ResolveDeciders is ResolveApprovers plus everything needed to check
// signatures: the eligible people's and the requester's keys, the relays'
// keys and the directory's allowUnsigned and signature window.
func (a *Activities) ResolveDeciders(ctx context.Context, in ResolveDecidersInput) (Deciders, error) {
	eligible, err := a.ResolveApprovers(ctx, ResolveApproversInput{People: in.People, Groups: in.Groups})
	if err != nil {
		return Deciders{}, err
	}
	dir := a.Directory
	if dir == nil {
		dir = &directory.Directory{}
	}
	window, err := dir.Window()
	if err != nil {
		return Deciders{}, temporal.NewNonRetryableApplicationError("the worker's directory has a bad signatureWindow: "+err.Error(), "BadDirectory", err)
	}
	out := Deciders{Eligible: eligible, Keys: map[string][]string{}, Relays: dir.RelayKeys(),
		AllowUnsigned: dir.AllowUnsigned, SignatureWindow: window.String()}
	for _, p := range append(slices.Clone(eligible), in.Requester) {
		if keys := dir.KeysOf(p); p != "" && len(keys) > 0 {
			out.Keys[p] = keys
		}
	}
	return out, nil
}
