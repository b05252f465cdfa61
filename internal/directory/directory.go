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
)

// Person is one entry of the directory.
type Person struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups,omitempty"`
	// ChatIDs are the person's chat user IDs (Slack user IDs such as U01ABCDEF).
	ChatIDs []string `json:"chatIds,omitempty"`
}

// Directory is the parsed directory file.
type Directory struct {
	People []Person `json:"people"`
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
		for _, id := range p.ChatIDs {
			if other, ok := seenChat[id]; ok {
				return nil, fmt.Errorf("directory %s: chat ID %s belongs to both %q and %q", source, id, other, p.Name)
			}
			seenChat[id] = p.Name
		}
	}
	return &d, nil
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
