package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeInvalidInput is the application error type of every input rejection,
// so callers (and retry policies) can tell bad input from a failed operation.
const ErrTypeInvalidInput = "InvalidInput"

// Input is what every workflow input implements: Validate reports the first
// problem as a *FieldError.
type Input interface {
	Validate() error
}

// FieldError names the input field that is wrong and how to fix it.
type FieldError struct {
	Field   string
	Problem string
	Fix     string
}

func (e *FieldError) Error() string {
	msg := fmt.Sprintf("field %q: %s", e.Field, e.Problem)
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

// DecodeInput reads a workflow input strictly: unknown fields and wrong types
// are errors naming the field, because a typo silently ignored in an
// infrastructure request is worse than a refusal. Empty input means "{}".
func DecodeInput[I Input](data []byte) (I, error) {
	var in I
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		trimmed = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, describeDecodeError(err, reflect.TypeOf(in))
	}
	if dec.More() {
		return in, &FieldError{Field: "input", Problem: "has more than one JSON value", Fix: "pass a single JSON object"}
	}
	if err := in.Validate(); err != nil {
		return in, err
	}
	return in, nil
}

// decodeWorkflowInput turns a decoding or validation failure into the
// non-retryable error a workflow fails with: retrying cannot fix bad input.
func decodeWorkflowInput[I Input](raw converter.RawValue) (I, error) {
	var data []byte
	if p := raw.Payload(); p != nil {
		switch enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc {
		case converter.MetadataEncodingJSON:
			data = p.GetData()
		case converter.MetadataEncodingNil, "":
		default:
			var zero I
			return zero, invalidInput(&FieldError{Field: "input", Problem: "is encoded as " + enc, Fix: "send the input as JSON"})
		}
	}
	in, err := DecodeInput[I](data)
	if err != nil {
		return in, invalidInput(err)
	}
	return in, nil
}

func invalidInput(err error) error {
	return temporal.NewNonRetryableApplicationError("invalid input: "+err.Error(), ErrTypeInvalidInput, nil)
}

func describeDecodeError(err error, t reflect.Type) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return &FieldError{Field: "input", Problem: "got a JSON " + typeErr.Value, Fix: "pass a JSON object such as '{}'"}
		}
		return &FieldError{Field: field, Problem: fmt.Sprintf("got a JSON %s, want %s", typeErr.Value, jsonKind(typeErr.Type))}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Field: "input", Problem: "is not valid JSON: it ends before the value is complete"}
	case errors.As(err, &syntaxErr):
		return &FieldError{Field: "input", Problem: fmt.Sprintf("is not valid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &FieldError{Field: name, Problem: "is not a known field", Fix: "known fields: " + strings.Join(jsonFields(t), ", ")}
	default:
		return &FieldError{Field: "input", Problem: err.Error()}
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array of " + jsonKind(t.Elem())
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return t.String()
	}
}

func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
