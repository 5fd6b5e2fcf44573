// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package moa is the behindproxy lab's stand-in for gitlab.com/gitlab-org/moa,
// the `${{ }}` template language of job inputs and CI steps. The Go module
// proxy refuses the real module's source here. This build has no template
// language: text without `${{` is a plain literal (so a job whose inputs are
// never interpolated still runs), and text with `${{` is refused with a clear
// error. A job without `inputs` never reaches this package.
package moa

import (
	"errors"
	"strings"

	"gitlab.com/gitlab-org/moa/ast"
)

const templateOpen = "${{"

// errUnavailable is the refusal of any `${{ }}` expression.
var errUnavailable = errors.New("job input interpolation (${{ }}) is not available in this build " +
	"(the Go module proxy refuses gitlab.com/gitlab-org/moa)")

// literal is text with no expression in it.
type literal struct {
	text string
}

func (l *literal) Walk(v ast.Visitor) (ast.Expr, error) {
	next, err := v.Enter(l)
	if err != nil || next == nil {
		return l, err
	}
	return next.Exit(l)
}

// ParseTemplate returns text as a literal, or refuses it when it holds `${{`.
func ParseTemplate(text string) (ast.Expr, error) {
	if strings.Contains(text, templateOpen) {
		return nil, errUnavailable
	}
	return &literal{text: text}, nil
}

// EscapeTemplate returns s unchanged: with no template language in this build,
// nothing would interpret `${{` in it (CI steps, which would, are refused).
func EscapeTemplate(s string) string {
	return s
}
