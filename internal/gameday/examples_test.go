package gameday

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples parses and validates every spec under internal/gameday/examples/.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples under internal/gameday/examples/: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Parse(data)
			if err != nil {
				var errs Errors
				if errors.As(err, &errs) {
					t.Fatalf("\n%s", errs.Format(file))
				}
				t.Fatal(err)
			}
			if err := e.WithDefaults().Validate(); err != nil {
				t.Fatalf("with defaults: %v", err)
			}
			if e.DryRun {
				t.Errorf("an example is a dry run; the examples show real game days")
			}
		})
	}
}

// TestDocumentedExample parses the annotated example of internal/gameday/SPEC.md,
// so that the schema's reference cannot drift from the parser.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(doc), "## A full example, annotated")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, closed := strings.Cut(rest, "```")
	if !found || !closed {
		t.Fatal("no annotated example in internal/gameday/SPEC.md")
	}
	e, err := Parse([]byte(example))
	if err != nil {
		var errs Errors
		if errors.As(err, &errs) {
			t.Fatalf("\n%s", errs.Format("internal/gameday/SPEC.md example"))
		}
		t.Fatal(err)
	}
	kinds := map[FaultKind]bool{}
	for _, f := range e.Method {
		kinds[f.Kind] = true
	}
	for _, k := range FaultKinds() {
		if !kinds[k] {
			t.Errorf("the full example has no %s fault", k)
		}
	}
}
