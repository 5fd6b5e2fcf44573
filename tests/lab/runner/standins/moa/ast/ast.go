// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package ast is the behindproxy lab's stand-in for gitlab.com/gitlab-org/moa/ast.
// The Go module proxy refuses the real module's source here; the stand-in
// parser (package moa) never produces a Template, since it refuses `${{ }}`.
package ast

// Expr is a node of a parsed template.
type Expr interface {
	// Walk visits the node (and would visit its children) with v.
	Walk(v Visitor) (Expr, error)
}

// Visitor is called on entering and leaving each node.
type Visitor interface {
	Enter(expr Expr) (Visitor, error)
	Exit(expr Expr) (Expr, error)
}

// Template is a `${{ }}` interpolation.
type Template struct{}

func (t *Template) Walk(v Visitor) (Expr, error) {
	next, err := v.Enter(t)
	if err != nil || next == nil {
		return t, err
	}
	return next.Exit(t)
}
