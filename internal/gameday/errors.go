package gameday

import (
	"fmt"
	"strings"
)

// FieldError is one problem with a spec: the field (a path such as
// "method[1].toxic.latency"), what is wrong, how to fix it, and, for a spec
// parsed from text, where the field is (1-based; 0 when unknown).
type FieldError struct {
	Field   string
	Problem string
	Fix     string
	Line    int
	Column  int
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.message())
	}
	return e.message()
}

func (e *FieldError) message() string {
	msg := e.Field + ": " + e.Problem
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// Errors is every problem found in a spec, not just the first, in the
// order of the spec.
type Errors []*FieldError

func (errs Errors) Error() string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("%d problems:\n%s", len(errs), strings.Join(lines, "\n"))
}

// Format writes one problem a line as "source:line:column: field: problem;
// fix", the form editors and terminals link to the spot in the file.
func (errs Errors) Format(source string) string {
	var b strings.Builder
	for _, e := range errs {
		switch {
		case e.Line > 0:
			fmt.Fprintf(&b, "%s:%d:%d: %s\n", source, e.Line, e.Column, e.message())
		default:
			fmt.Fprintf(&b, "%s: %s\n", source, e.message())
		}
	}
	return b.String()
}
