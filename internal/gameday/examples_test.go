package gameday

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExamples parses and validates every spec under gamedays/.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../gamedays/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples under gamedays/: %v", err)
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
