// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package expression is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/api/expression, the evaluator of
// `${{ }}` job inputs. The Go module proxy refuses the real module's source
// here. Evaluating a literal gives its text back; an interpolation is refused
// (the stand-in parser in gitlab.com/gitlab-org/moa never yields one).
package expression

import (
	"errors"

	"gitlab.com/gitlab-org/moa/ast"
	"gitlab.com/gitlab-org/moa/value"
)

// Sensitive marks a value that must not appear in interpolated text.
const Sensitive uint16 = 1 << 0

// Input is one job input.
type Input struct {
	Key   string
	Value value.Value
}

// Evaluator evaluates parsed templates with the job's inputs in scope.
type Evaluator struct {
	scope value.Value
}

// NewEvaluator returns an evaluator over scope.
func NewEvaluator(scope value.Value) (*Evaluator, error) {
	return &Evaluator{scope: scope}, nil
}

// Eval returns text for a literal and refuses an interpolation.
func (e *Evaluator) Eval(text string, expr ast.Expr) (value.Value, error) {
	if _, interpolation := expr.(*ast.Template); interpolation {
		return value.Null(), errors.New("job input interpolation (${{ }}) is not available in this build " +
			"(the Go module proxy refuses gitlab.com/gitlab-org/step-runner)")
	}
	return value.String(text), nil
}
