package ansiblerun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// ResolvePlaybook finds the playbook called name inside dir, the worker's
// playbooks directory, and returns its absolute path. Only that directory is
// trusted: a playbook can run anything on the worker (delegate_to: localhost,
// connection: local), so a name that is absolute, climbs out with "..", or is a
// symlink leading out of dir is bad input, refused before anything runs.
func ResolvePlaybook(dir, name string) (string, error) {
	refuse := func(problem string) error {
		return &InputError{Field: "playbook", Problem: problem,
			Fix: fmt.Sprintf("name a playbook in the worker's playbooks directory by its relative path (%s)", strings.Join(playbookNames(dir), ", "))}
	}
	switch {
	case name == "":
		return "", refuse("is empty")
	case strings.ContainsRune(name, 0):
		return "", refuse("contains a NUL byte")
	case filepath.IsAbs(name) || strings.HasPrefix(name, "~"):
		return "", refuse(fmt.Sprintf("%q is an absolute path; only playbooks in the worker's playbooks directory run", name))
	case slices.Contains(strings.Split(filepath.ToSlash(name), "/"), ".."):
		return "", refuse(fmt.Sprintf("%q contains \"..\"; only playbooks in the worker's playbooks directory run", name))
	case !filepath.IsLocal(name):
		return "", refuse(fmt.Sprintf("%q is not a path inside the playbooks directory", name))
	}
	if ext := filepath.Ext(name); ext != ".yml" && ext != ".yaml" {
		return "", refuse(fmt.Sprintf("%q is not a .yml or .yaml file", name))
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("the worker's playbooks directory: %w", err)
	}
	if root, err = filepath.Abs(root); err != nil {
		return "", fmt.Errorf("the worker's playbooks directory: %w", err)
	}
	path, err := filepath.EvalSymlinks(filepath.Join(root, name))
	if err != nil {
		return "", refuse(fmt.Sprintf("%s does not exist in the worker's playbooks directory", name))
	}
	if !within(root, path) {
		return "", refuse(fmt.Sprintf("%q is a symlink leading out of the playbooks directory (to %s)", name, path))
	}
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return "", refuse(fmt.Sprintf("%s is not a file", name))
	}
	return path, nil
}

// PlaybookName turns a resolved playbook path back into its name in dir; a
// path outside dir keeps its absolute form, which ResolvePlaybook refuses.
// Workflows started before playbooks were confined carry resolved paths.
func PlaybookName(dir, playbook string) string {
	if !filepath.IsAbs(playbook) {
		return playbook
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return playbook
	}
	if root, err = filepath.Abs(root); err != nil {
		return playbook
	}
	for _, base := range []string{root, filepath.Clean(dir)} {
		if rel, err := filepath.Rel(base, playbook); err == nil && filepath.IsLocal(rel) {
			return rel
		}
	}
	return playbook
}

// within reports whether path is root or below it; both are absolute and
// free of symlinks.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

func playbookNames(dir string) []string {
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yml" || ext == ".yaml") {
			names = append(names, e.Name())
		}
	}
	return names
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
// ones. Of the connection variables (ansible_*) only privilege escalation is
// allowed, and no value may be a template (see untrusted.go).
func CheckVars(field string, vars map[string]any, declared map[string]VarSpec) error {
	if err := CheckUntrustedVars(field, vars); err != nil {
		return err
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := connectionVars[name]; ok {
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
