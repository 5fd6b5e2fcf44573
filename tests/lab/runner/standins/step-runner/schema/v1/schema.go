// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package schema is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/schema/v1, the CI steps (`run:`) schema.
// The Go module proxy refuses the real module's source here. A Step keeps the
// fields the runner reads and, in JSON, every other field as it came, so a
// job's `run:` is passed on unchanged; running it is refused elsewhere.
package schema

import (
	"encoding/json"
	"maps"
)

// StepInputs are the inputs of a step, by name.
type StepInputs map[string]any

// Step is one CI step, or (with Run) a sequence of them.
type Step struct {
	Name   *string    `json:"name,omitempty" yaml:"name,omitempty"`
	Step   string     `json:"step,omitempty" yaml:"step,omitempty"`
	Inputs StepInputs `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	Run    []Step     `json:"run,omitempty" yaml:"run,omitempty"`

	// other holds the JSON fields this stand-in does not know.
	other map[string]json.RawMessage
}

type knownFields Step

// UnmarshalJSON reads the known fields and keeps the others.
func (s *Step) UnmarshalJSON(data []byte) error {
	var known knownFields
	if err := json.Unmarshal(data, &known); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	for _, name := range []string{"name", "step", "inputs", "run"} {
		delete(all, name)
	}
	*s = Step(known)
	if len(all) > 0 {
		s.other = all
	}
	return nil
}

// MarshalJSON writes the known fields and the kept ones.
func (s Step) MarshalJSON() ([]byte, error) {
	data, err := json.Marshal(knownFields(s))
	if err != nil || len(s.other) == 0 {
		return data, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	merged := maps.Clone(s.other)
	maps.Copy(merged, all)
	return json.Marshal(merged)
}
