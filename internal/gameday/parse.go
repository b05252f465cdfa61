package gameday

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Bounds on what Parse reads: a spec is a page or two, and aliases must not
// make it expand without end.
const (
	maxSpecBytes = 1 << 20
	maxValues    = 100_000
)

// Parse reads a spec written in YAML or JSON and validates it. Every problem
// is reported, each with its field and the line and column of the field in
// data: unknown fields (a typo must not pass silently), values of the wrong
// type, malformed YAML or JSON, and whatever Validate refuses. The error is
// an Errors. The experiment is returned as written, without defaults; it
// is usable only when the error is nil.
func Parse(data []byte) (Experiment, error) {
	var e Experiment
	if len(data) > maxSpecBytes {
		return e, Errors{{Field: "spec", Problem: fmt.Sprintf("is %d bytes long", len(data)), Fix: "keep a spec under 1 MiB"}}
	}
	root, problem := parseTree(data)
	if problem != nil {
		return e, Errors{problem}
	}
	d := &decoder{positions: map[string]position{}, budget: maxValues}
	d.positions[""] = positionOf(root)
	d.value(root, reflect.ValueOf(&e).Elem(), "")
	errs := d.errs
	if root.Kind != yaml.MappingNode {
		return e, errs
	}
	if err := e.Validate(); err != nil {
		var invalid Errors
		if !errors.As(err, &invalid) {
			return e, err
		}
		for _, fe := range invalid {
			if d.explained(fe.Field) {
				continue
			}
			at := d.locate(fe.Field)
			fe.Line, fe.Column = at.line, at.column
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		return e, sortByLine(errs)
	}
	return e, nil
}

// Locate is where field ("method[0].duration") is written in data, or else
// the nearest enclosing field that is, as Parse reports its own problems; 0, 0
// when data cannot be read. It places problems found after Parse, such as a
// workflow's checks of the whole input, in the file the spec came from.
func Locate(data []byte, field string) (line, column int) {
	if len(data) > maxSpecBytes {
		return 0, 0
	}
	root, problem := parseTree(data)
	if problem != nil {
		return 0, 0
	}
	var e Experiment
	d := &decoder{positions: map[string]position{}, budget: maxValues}
	d.positions[""] = positionOf(root)
	d.value(root, reflect.ValueOf(&e).Elem(), "")
	at := d.locate(field)
	return at.line, at.column
}

// explained reports whether a validation error follows from a decoding
// error already reported: a field that could not be read (or was misspelt)
// is empty, and "is required" would only repeat the problem.
func (d *decoder) explained(field string) bool {
	for _, f := range d.unread {
		if field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[") {
			return true
		}
	}
	return false
}

func sortByLine(errs Errors) Errors {
	slices.SortStableFunc(errs, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	return errs
}

// parseTree turns data into a node tree. Valid JSON is read by a JSON
// tokenizer: YAML parsers refuse some valid JSON (the "\/" escape, for
// one), and people paste JSON from `temporal workflow start --input`.
func parseTree(data []byte) (*yaml.Node, *FieldError) {
	jsonLike := startsLikeJSON(data)
	if jsonLike && json.Valid(data) {
		return jsonTree(data)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptySpec()
		}
		if jsonLike {
			return nil, jsonSyntaxError(data)
		}
		return nil, yamlSyntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		at := positionOf(&next)
		return nil, &FieldError{Field: "spec", Problem: "holds more than one YAML document", Fix: `keep one experiment per file: remove the second "---" and what follows`, Line: at.line, Column: at.column}
	case !errors.Is(err, io.EOF):
		return nil, yamlSyntaxError(err)
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, emptySpec()
	}
	return doc.Content[0], nil
}

func emptySpec() *FieldError {
	return &FieldError{Field: "spec", Problem: "is empty", Fix: "write an experiment: title, approval, steadyState, method (see internal/gameday/SPEC.md)"}
}

func startsLikeJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlSyntaxError(err error) *FieldError {
	msg := err.Error()
	fe := &FieldError{Field: "spec", Fix: "fix the YAML at that line: indentation, a missing colon, quote or bracket"}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Column = 1
		msg = m[2]
	}
	fe.Problem = "is not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")
	return fe
}

func jsonSyntaxError(data []byte) *FieldError {
	var probe any
	err := json.Unmarshal(data, &probe)
	fe := &FieldError{Field: "spec", Problem: "is not valid JSON", Fix: "fix the JSON there: a missing comma, quote or bracket"}
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		fe.Problem += ": " + syntax.Error()
		// Offset counts the byte that was refused.
		fe.Line, fe.Column = offsetPosition(data, int(syntax.Offset)-1)
	case err != nil:
		fe.Problem += ": " + err.Error()
		fe.Line, fe.Column = offsetPosition(data, len(data))
	}
	return fe
}

// offsetPosition is the 1-based line and column (in characters) of a byte
// offset.
func offsetPosition(data []byte, offset int) (int, int) {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[lineStart:]) + 1
}

// jsonTree builds, from valid JSON, the node tree a YAML parser would
// build, with each value's line and column.
func jsonTree(data []byte) (*yaml.Node, *FieldError) {
	b := &jsonBuilder{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	b.dec.UseNumber()
	var lineStarts []int
	lineStarts = append(lineStarts, 0)
	for i, c := range data {
		if c == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	b.lineStarts = lineStarts
	root, err := b.value()
	if err != nil {
		return nil, jsonSyntaxError(data)
	}
	return root, nil
}

type jsonBuilder struct {
	data       []byte
	dec        *json.Decoder
	lineStarts []int
}

// start is where the next token begins: the decoder's offset is the end of
// the last token, before the separators.
func (b *jsonBuilder) start() (line, column int) {
	offset := int(b.dec.InputOffset())
	for offset < len(b.data) && strings.IndexByte(" \t\r\n,:", b.data[offset]) >= 0 {
		offset++
	}
	line = sort.Search(len(b.lineStarts), func(i int) bool { return b.lineStarts[i] > offset })
	column = utf8.RuneCount(b.data[b.lineStarts[line-1]:offset]) + 1
	return line, column
}

func (b *jsonBuilder) value() (*yaml.Node, error) {
	line, column := b.start()
	token, err := b.dec.Token()
	if err != nil {
		return nil, err
	}
	node := &yaml.Node{Kind: yaml.ScalarNode, Line: line, Column: column}
	switch t := token.(type) {
	case json.Delim:
		node.Kind, node.Tag = yaml.MappingNode, "!!map"
		if t == '[' {
			node.Kind, node.Tag = yaml.SequenceNode, "!!seq"
		}
		for b.dec.More() {
			if node.Kind == yaml.MappingNode {
				keyLine, keyColumn := b.start()
				key, err := b.dec.Token()
				if err != nil {
					return nil, err
				}
				name, _ := key.(string)
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Style: yaml.DoubleQuotedStyle, Line: keyLine, Column: keyColumn})
			}
			child, err := b.value()
			if err != nil {
				return nil, err
			}
			node.Content = append(node.Content, child)
		}
		if _, err := b.dec.Token(); err != nil {
			return nil, err
		}
	case string:
		node.Tag, node.Value, node.Style = "!!str", t, yaml.DoubleQuotedStyle
	case json.Number:
		node.Tag, node.Value = "!!float", t.String()
		if !strings.ContainsAny(node.Value, ".eE") {
			node.Tag = "!!int"
		}
	case bool:
		node.Tag, node.Value = "!!bool", strconv.FormatBool(t)
	case nil:
		node.Tag, node.Value = "!!null", "null"
	}
	return node, nil
}

type position struct{ line, column int }

func positionOf(n *yaml.Node) position { return position{n.Line, n.Column} }

// decoder fills a Go value from a node tree the way encoding/json fills it
// from JSON (the same field names, from the json tags), but strictly, and
// remembering where each field was so that Validate's errors get a line.
type decoder struct {
	errs      Errors
	positions map[string]position
	budget    int
	// unread are the fields a decoding error left empty.
	unread []string
}

func (d *decoder) fail(n *yaml.Node, field, problem, fix string) {
	if field == "" {
		field = "spec"
	}
	d.errs = append(d.errs, &FieldError{Field: field, Problem: problem, Fix: fix, Line: n.Line, Column: n.Column})
	d.unread = append(d.unread, field)
}

// spend counts a value against the budget, reporting once when it runs out.
func (d *decoder) spend(n *yaml.Node, field string) bool {
	d.budget--
	if d.budget == -1 {
		d.fail(n, field, fmt.Sprintf("makes the spec hold more than %d values (counting what aliases repeat)", maxValues), "write a smaller spec")
	}
	return d.budget >= 0
}

// locate is where a field is, or else the nearest enclosing field that was
// written (a missing required field is reported where its parent is).
func (d *decoder) locate(field string) position {
	for {
		if at, ok := d.positions[field]; ok {
			return at
		}
		if field == "" {
			return position{}
		}
		field = parentField(field)
	}
}

func parentField(field string) string {
	if strings.HasSuffix(field, "]") {
		return field[:strings.LastIndexByte(field, '[')]
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[:i]
	}
	return ""
}

func childField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

var (
	durationType   = reflect.TypeFor[Duration]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

const (
	nullTag = "!!null"
	strTag  = "!!str"
)

func (d *decoder) value(n *yaml.Node, v reflect.Value, field string) {
	if !d.spend(n, field) {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag {
		v.SetZero()
		return
	}
	if v.Type() == rawMessageType {
		var b bytes.Buffer
		if d.writeJSON(&b, n, field) {
			v.SetBytes(b.Bytes())
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.value(n, p.Elem(), field)
		v.Set(p)
	case reflect.Struct:
		d.object(n, v, field)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.wrongType(n, v.Type(), field)
			return
		}
		list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			itemField := fmt.Sprintf("%s[%d]", field, i)
			d.positions[itemField] = positionOf(item)
			d.value(item, list.Index(i), itemField)
		}
		v.Set(list)
	default:
		d.scalar(n, v, field)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, field string) {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode {
		d.wrongType(n, v.Type(), field)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if tag != strTag {
			d.wrongType(n, v.Type(), field)
			return
		}
		v.SetString(n.Value)
	case reflect.Int:
		var i int64
		if tag != "!!int" {
			d.wrongType(n, v.Type(), field)
		} else if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
			d.fail(n, field, fmt.Sprintf("%s is out of range", n.Value), "use a smaller whole number")
		} else {
			v.SetInt(i)
		}
	case reflect.Float64:
		var f float64
		if tag != "!!int" && tag != "!!float" {
			d.wrongType(n, v.Type(), field)
		} else if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n, field, fmt.Sprintf("%s is not a finite number", n.Value), "use a number such as 0.5")
		} else {
			v.SetFloat(f)
		}
	case reflect.Bool:
		var b bool
		if tag != "!!bool" {
			d.wrongType(n, v.Type(), field)
		} else if err := n.Decode(&b); err != nil {
			d.wrongType(n, v.Type(), field)
		} else {
			v.SetBool(b)
		}
	default:
		d.fail(n, field, "cannot be read into "+v.Type().String(), "")
	}
}

func (d *decoder) wrongType(n *yaml.Node, want reflect.Type, field string) {
	fix := ""
	switch {
	case want == durationType && n.Kind == yaml.ScalarNode:
		fix = fmt.Sprintf(`write it as a duration with its unit, e.g. "%ss"`, n.Value)
	case want.Kind() == reflect.String && n.Kind == yaml.ScalarNode:
		fix = fmt.Sprintf("quote it: %q", n.Value)
	case want.Kind() == reflect.Slice && n.Kind != yaml.SequenceNode:
		fix = "write a list: one \"- item\" a line, or [a, b]"
	}
	d.fail(n, field, fmt.Sprintf("got %s, want %s", describeNode(n), describeType(want)), fix)
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	switch tag := n.ShortTag(); tag {
	case strTag:
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	default:
		return fmt.Sprintf("%s tagged %s", n.Value, tag)
	}
}

func describeType(t reflect.Type) string {
	if t == durationType {
		return `a duration such as "30s"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	default:
		return "an object"
	}
}

// structField is a field as JSON sees it: embedded structs' fields belong
// to the struct that embeds them.
type structField struct {
	name  string
	index []int
}

func fieldsOf(t reflect.Type) []structField {
	var fields []structField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			for _, inner := range fieldsOf(f.Type) {
				fields = append(fields, structField{inner.name, append([]int{i}, inner.index...)})
			}
			continue
		case name == "":
			name = f.Name
		}
		fields = append(fields, structField{name, []int{i}})
	}
	return fields
}

func (d *decoder) object(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		d.wrongType(n, v.Type(), field)
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		if key.Kind == yaml.AliasNode && key.Alias != nil {
			key = key.Alias
		}
		if key.Kind != yaml.ScalarNode || key.ShortTag() != strTag {
			if key.ShortTag() == "!!merge" {
				d.fail(key, childField(field, "<<"), "merge keys are not supported", "write the fields out")
			} else {
				d.fail(key, field, fmt.Sprintf("has the key %s, which is not a field name", describeNode(key)), "use field names as keys")
			}
			continue
		}
		name, child := key.Value, childField(field, key.Value)
		if first, twice := seen[name]; twice {
			d.fail(key, child, fmt.Sprintf("is set twice (first on line %d)", first.Line), "keep one")
			continue
		}
		seen[name] = key
		i := slices.IndexFunc(fields, func(f structField) bool { return f.name == name })
		if i < 0 {
			meant := meantField(name, fields)
			fix := "known fields here: " + strings.Join(fieldNames(fields), ", ")
			if meant != "" {
				fix = fmt.Sprintf("did you mean %s? %s", meant, fix)
				d.unread = append(d.unread, childField(field, meant))
			}
			d.fail(key, child, "is not a known field", fix)
			continue
		}
		d.positions[child] = positionOf(key)
		d.value(val, v.FieldByIndex(fields[i].index), child)
	}
}

func fieldNames(fields []structField) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

// meantField is the known field a misspelt name most likely meant, or "".
func meantField(name string, fields []structField) string {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) || (len(name) > 3 && editDistance(f.name, name) <= 2) {
			return f.name
		}
	}
	return ""
}

// editDistance is the Levenshtein distance, for suggesting the field a typo
// meant.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	previous := make([]int, len(rb)+1)
	current := make([]int, len(rb)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		current[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(rb)]
}

// writeJSON writes a node as compact JSON, keys in the order written: the
// form a field that holds another workflow's input (json.RawMessage) takes.
func (d *decoder) writeJSON(b *bytes.Buffer, n *yaml.Node, field string) bool {
	if !d.spend(n, field) {
		return false
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			if key.Kind == yaml.AliasNode && key.Alias != nil {
				key = key.Alias
			}
			if key.Kind != yaml.ScalarNode || key.ShortTag() != strTag {
				d.fail(key, field, fmt.Sprintf("has the key %s", describeNode(key)), "keys of an input are strings: quote it")
				return false
			}
			child := childField(field, key.Value)
			if slices.Contains(keys, key.Value) {
				d.fail(key, child, "is set twice", "keep one")
				return false
			}
			keys = append(keys, key.Value)
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, key.Value)
			b.WriteByte(':')
			if !d.writeJSON(b, n.Content[i+1], child) {
				return false
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if !d.writeJSON(b, item, fmt.Sprintf("%s[%d]", field, i)) {
				return false
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		return d.writeJSONScalar(b, n, field)
	default:
		d.fail(n, field, "is not a value", "")
		return false
	}
	return true
}

func (d *decoder) writeJSONScalar(b *bytes.Buffer, n *yaml.Node, field string) bool {
	switch tag := n.ShortTag(); tag {
	case nullTag:
		b.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			d.fail(n, field, fmt.Sprintf("%s is not true or false", n.Value), "")
			return false
		}
		b.WriteString(strconv.FormatBool(v))
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			d.fail(n, field, fmt.Sprintf("%s is out of range", n.Value), "use a smaller number")
			return false
		}
		b.WriteString(strconv.FormatInt(v, 10))
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			d.fail(n, field, fmt.Sprintf("%s is not a finite number", n.Value), "JSON has no NaN or infinity")
			return false
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case strTag, "!!timestamp", "!!binary":
		writeJSONString(b, n.Value)
	default:
		d.fail(n, field, fmt.Sprintf("has the tag %s", tag), "remove the tag: an input holds plain values")
		return false
	}
	return true
}

func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
