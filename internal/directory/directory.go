// Package directory maps people to their groups and chat identities: who may
// approve as a member of a group, and which chat user is which approver.
package directory

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/infraflow/infraflow/internal/signing"
)

// Person is one entry of the directory.
type Person struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
	// ChatIDs are the person's chat user IDs (Slack user IDs such as U01ABCDEF).
	ChatIDs []string `json:"chatIds,omitempty"`
	// Keys are the person's Ed25519 public keys, as OpenSSH lines
	// ("ssh-ed25519 AAAA... alice@laptop") or raw base64: decisions and
	// requests signed with them are the person's.
	Keys []string `json:"keys,omitempty"`
}

// Relay is a trusted relay: a chat server that verified who a chat user is
// (Slack signature + chatIds) and signs their decisions with its own key.
type Relay struct {
	Name string   `json:"name"`
	Keys []string `json:"keys"`
}

// Directory is the parsed directory file.
type Directory struct {
	People []Person `json:"people"`
	Relays []Relay  `json:"relays,omitempty"`
	// AllowUnsigned accepts unsigned decisions and requests (names believed as
	// typed). Only for trying infraflow out: the built-in example sets it.
	AllowUnsigned bool `json:"allowUnsigned,omitempty"`
	// SignatureWindow bounds how far a signature's signedAt may be from the
	// workflow's clock (Go duration, default 10m).
	SignatureWindow string `json:"signatureWindow,omitempty"`
}

//go:embed example.json
var exampleJSON []byte

// Example is the directory the local platform uses when none is configured.
func Example() *Directory {
	d, err := parse(exampleJSON, "built-in example")
	if err != nil {
		panic(err)
	}
	return d
}

// Load reads a directory file (JSON, the shape of example.json).
func Load(path string) (*Directory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading directory: %w", err)
	}
	return parse(data, path)
}

func parse(data []byte, source string) (*Directory, error) {
	var d Directory
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("directory %s is not valid JSON: %w", source, err)
	}
	seenName, seenChat := map[string]bool{}, map[string]string{}
	for i, p := range d.People {
		if p.Name == "" {
			return nil, fmt.Errorf("directory %s: people[%d] has no name", source, i)
		}
		if seenName[p.Name] {
			return nil, fmt.Errorf("directory %s: %q appears twice", source, p.Name)
		}
		seenName[p.Name] = true
		for j, k := range p.Keys {
			if _, err := signing.ParsePublicKey(k); err != nil {
				return nil, fmt.Errorf("directory %s: people[%d] (%s) keys[%d] %v; enroll the .pub line `starter keys generate` prints", source, i, p.Name, j, err)
			}
		}
		for _, id := range p.ChatIDs {
			if other, ok := seenChat[id]; ok {
				return nil, fmt.Errorf("directory %s: chat ID %s belongs to both %q and %q", source, id, other, p.Name)
			}
			seenChat[id] = p.Name
		}
	}
	for i, r := range d.Relays {
		if r.Name == "" || len(r.Keys) == 0 {
			return nil, fmt.Errorf("directory %s: relays[%d] needs a name and keys", source, i)
		}
		for j, k := range r.Keys {
			if _, err := signing.ParsePublicKey(k); err != nil {
				return nil, fmt.Errorf("directory %s: relays[%d] (%s) keys[%d] %v", source, i, r.Name, j, err)
			}
		}
	}
	if w, err := d.Window(); err != nil || w <= 0 {
		return nil, fmt.Errorf("directory %s: signatureWindow %q is not a positive duration; use e.g. \"10m\"", source, d.SignatureWindow)
	}
	return &d, nil
}

// Window is SignatureWindow, parsed (default 10m).
func (d *Directory) Window() (time.Duration, error) {
	if d.SignatureWindow == "" {
		return signing.DefaultWindow, nil
	}
	return time.ParseDuration(d.SignatureWindow)
}

// KeysOf lists a person's keys (nil for someone not in the directory).
func (d *Directory) KeysOf(name string) []string {
	for _, p := range d.People {
		if p.Name == name {
			return slices.Clone(p.Keys)
		}
	}
	return nil
}

// RelayKeys lists every relay's keys by relay name.
func (d *Directory) RelayKeys() map[string][]string {
	out := map[string][]string{}
	for _, r := range d.Relays {
		out[r.Name] = append(out[r.Name], r.Keys...)
	}
	return out
}

// HasRelayKey says whether key (an OpenSSH line or base64) is a relay's.
func (d *Directory) HasRelayKey(key string) bool {
	want, err := signing.ParsePublicKey(key)
	if err != nil {
		return false
	}
	for _, r := range d.Relays {
		for _, k := range r.Keys {
			if got, err := signing.ParsePublicKey(k); err == nil && got.Equal(want) {
				return true
			}
		}
	}
	return false
}

// WithRelay returns a copy of the directory that also trusts a relay.
func (d *Directory) WithRelay(name, key string) *Directory {
	c := *d
	c.Relays = append(slices.Clone(d.Relays), Relay{Name: name, Keys: []string{key}})
	return &c
}

// Members lists the people in a group, sorted; ok is false for an unknown group.
func (d *Directory) Members(group string) (members []string, ok bool) {
	for _, p := range d.People {
		if slices.Contains(p.Groups, group) {
			members = append(members, p.Name)
		}
	}
	sort.Strings(members)
	return members, len(members) > 0
}

// ByChatID finds who a chat user is.
func (d *Directory) ByChatID(chatID string) (string, bool) {
	for _, p := range d.People {
		if slices.Contains(p.ChatIDs, chatID) {
			return p.Name, true
		}
	}
	return "", false
}

// Groups lists every group named in the directory.
func (d *Directory) Groups() []string {
	var groups []string
	for _, p := range d.People {
		for _, g := range p.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	sort.Strings(groups)
	return groups
}
