// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package value is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/moa/value, the values of job inputs. The Go module
// proxy refuses the real module's source here. A Value only keeps what a job
// payload's input content is (its JSON and kind), so the runner's own checks
// of inputs (key, kind, announced type) work; nothing here evaluates.
package value

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
)

// Kind is the type of a Value.
type Kind int

const (
	NullKind Kind = iota
	BoolKind
	NumberKind
	StringKind
	ArrayKind
	ObjectKind
)

func (k Kind) String() string {
	switch k {
	case BoolKind:
		return "boolean"
	case NumberKind:
		return "number"
	case StringKind:
		return "string"
	case ArrayKind:
		return "array"
	case ObjectKind:
		return "object"
	default:
		return "null"
	}
}

var (
	ErrAttributeNotFound = errors.New("attribute not found")
	ErrInvalidKey        = errors.New("invalid key")
)

// Mapper is an object whose attributes are looked up by name.
type Mapper interface {
	Attr(name string) (Value, error)
	Keys() iter.Seq[Value]
	Len() int
}

// Value is a null, boolean, number, string, array or object.
type Value struct {
	kind   Kind
	text   string          // StringKind
	json   json.RawMessage // what was decoded, for the other kinds
	object Mapper          // ObjectKind made by Object
	marks  uint16
}

// Null is the null value.
func Null() Value { return Value{kind: NullKind} }

// String is a string value.
func String(s string) Value { return Value{kind: StringKind, text: s} }

// Object is an object value whose attributes m holds.
func Object(m Mapper) Value { return Value{kind: ObjectKind, object: m} }

func (v Value) Kind() Kind { return v.kind }

// String is the text of a string, else the JSON of the value.
func (v Value) String() string {
	switch {
	case v.kind == StringKind:
		return v.text
	case v.json != nil:
		return string(v.json)
	case v.kind == ObjectKind:
		return fmt.Sprintf("object of %d attributes", v.object.Len())
	default:
		return "null"
	}
}

// WithMarks returns v with the marks (such as "sensitive") added.
func (v Value) WithMarks(marks uint16) Value {
	v.marks |= marks
	return v
}

// HasMarks tells whether v carries all of marks.
func (v Value) HasMarks(marks uint16) bool {
	return v.marks&marks == marks
}

// UnmarshalJSON keeps the JSON and its kind.
func (v *Value) UnmarshalJSON(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return errors.New("empty input value")
	}
	*v = Value{json: append(json.RawMessage(nil), trimmed...)}
	switch c := trimmed[0]; {
	case c == 'n':
		v.kind, v.json = NullKind, nil
	case c == 't' || c == 'f':
		v.kind = BoolKind
	case c == '"':
		v.kind, v.json = StringKind, nil
		return json.Unmarshal(trimmed, &v.text)
	case c == '[':
		v.kind = ArrayKind
	case c == '{':
		v.kind = ObjectKind
	default:
		v.kind = NumberKind
	}
	if !json.Valid(trimmed) {
		return fmt.Errorf("input value is not valid JSON: %s", trimmed)
	}
	return nil
}

// MarshalJSON writes the value back as it was decoded.
func (v Value) MarshalJSON() ([]byte, error) {
	switch {
	case v.kind == StringKind:
		return json.Marshal(v.text)
	case v.json != nil:
		return v.json, nil
	case v.kind == NullKind:
		return []byte("null"), nil
	default:
		return nil, fmt.Errorf("a %s value made by this build has no JSON form", v.kind)
	}
}
