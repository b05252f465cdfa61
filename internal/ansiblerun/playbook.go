package ansiblerun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// InputError is a problem with what was asked for (not with the machines):
// retrying cannot help. Field names the input field.
type InputError struct {
	Field, Problem, Fix string
}

func (e *InputError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Problem)
	}
	return fmt.Sprintf("%s: %s; %s", e.Field, e.Problem, e.Fix)
}

// ResolvePlaybook finds the playbook: a path relative to dir (the worker's
// playbooks directory) or an absolute path.
func ResolvePlaybook(dir, playbook string) (string, error) {
	path := playbook
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, playbook)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		var names []string
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yml" || ext == ".yaml") {
				names = append(names, e.Name())
			}
		}
		return "", &InputError{Field: "playbook", Problem: fmt.Sprintf("%s does not exist on the worker", path),
			Fix: fmt.Sprintf("use a playbook in %s (%s) or an absolute path", dir, strings.Join(names, ", "))}
	}
	return path, nil
}

// SyntaxCheck runs ansible-playbook --syntax-check.
func SyntaxCheck(ctx context.Context, playbook, inventory string) error {
	cmd := exec.CommandContext(ctx, "ansible-playbook", "--syntax-check", "-i", inventory, playbook)
	cmd.Dir = filepath.Dir(playbook)
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("running ansible-playbook --syntax-check: %w", err)
	}
	return &InputError{Field: "playbook", Problem: "fails ansible-playbook --syntax-check: " + strings.TrimSpace(lastLines(string(out), 12)),
		Fix: "fix the playbook and run `ansible-playbook --syntax-check " + filepath.Base(playbook) + "`"}
}

// VarSpec is one variable a role declares in meta/argument_specs.yml.
type VarSpec struct {
	Role     string
	Name     string
	Type     string
	Elements string
	Choices  []any
}

// DeclaredVars reads the argument specs of every role the playbook's plays
// use: the variables a caller may set, with their types.
func DeclaredVars(playbook string) (map[string]VarSpec, error) {
	data, err := os.ReadFile(playbook)
	if err != nil {
		return nil, err
	}
	var plays []struct {
		Roles []yaml.Node `yaml:"roles"`
	}
	if err := yaml.Unmarshal(data, &plays); err != nil {
		return nil, &InputError{Field: "playbook", Problem: "is not a list of plays: " + err.Error()}
	}
	specs := map[string]VarSpec{}
	for _, play := range plays {
		for _, node := range play.Roles {
			role := node.Value
			if node.Kind == yaml.MappingNode {
				var r struct {
					Role string `yaml:"role"`
					Name string `yaml:"name"`
				}
				_ = node.Decode(&r)
				role = r.Role + r.Name
			}
			if err := readArgumentSpecs(filepath.Join(filepath.Dir(playbook), "roles", role), role, specs); err != nil {
				return nil, err
			}
		}
	}
	return specs, nil
}

func readArgumentSpecs(dir, role string, into map[string]VarSpec) error {
	data, err := os.ReadFile(filepath.Join(dir, "meta", "argument_specs.yml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var doc struct {
		ArgumentSpecs map[string]struct {
			Options map[string]struct {
				Type     string `yaml:"type"`
				Elements string `yaml:"elements"`
				Choices  []any  `yaml:"choices"`
			} `yaml:"options"`
		} `yaml:"argument_specs"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("role %s: meta/argument_specs.yml: %w", role, err)
	}
	for name, opt := range doc.ArgumentSpecs["main"].Options {
		t := opt.Type
		if t == "" {
			t = "str"
		}
		into[name] = VarSpec{Role: role, Name: name, Type: t, Elements: opt.Elements, Choices: opt.Choices}
	}
	return nil
}

// CheckVars checks extra vars (as decoded from JSON) against the declared
// ones. Connection variables (ansible_*) pass through unchecked.
func CheckVars(field string, vars map[string]any, declared map[string]VarSpec) error {
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasPrefix(name, "ansible_") {
			continue
		}
		spec, ok := declared[name]
		if !ok {
			return &InputError{Field: field + "." + name, Problem: "is not a variable of this playbook's roles",
				Fix: "known variables: " + strings.Join(sortedKeys(declared), ", ")}
		}
		if problem := typeProblem(vars[name], spec.Type, spec.Elements); problem != "" {
			return &InputError{Field: field + "." + name, Problem: problem,
				Fix: fmt.Sprintf("role %s declares it as %s", spec.Role, describe(spec))}
		}
		if len(spec.Choices) > 0 && !oneOf(vars[name], spec.Choices) {
			return &InputError{Field: field + "." + name, Problem: fmt.Sprintf("%v is not allowed", vars[name]),
				Fix: fmt.Sprintf("use one of %v", spec.Choices)}
		}
	}
	return nil
}

func typeProblem(v any, typ, elements string) string {
	bad := func() string { return fmt.Sprintf("%s is %s, not %s", show(v), jsonType(v), typ) }
	switch typ {
	case "str", "path", "raw", "":
		if typ == "raw" {
			return ""
		}
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "int":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return bad()
		}
	case "float":
		if _, ok := v.(float64); !ok {
			return bad()
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "dict":
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	case "list":
		items, ok := v.([]any)
		if !ok {
			return bad()
		}
		if elements != "" {
			for i, item := range items {
				if p := typeProblem(item, elements, ""); p != "" {
					return fmt.Sprintf("item %d: %s", i, p)
				}
			}
		}
	}
	return ""
}

func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "a string"
	case float64:
		if x == math.Trunc(x) {
			return "an integer"
		}
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func describe(s VarSpec) string {
	if s.Elements != "" {
		return fmt.Sprintf("%s of %s", s.Type, s.Elements)
	}
	return s.Type
}

func oneOf(v any, choices []any) bool {
	for _, c := range choices {
		if fmt.Sprint(c) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
