// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package oidc is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/labkit/v2/events/snowplow/oidc, the cloud identity
// tokens of usage billing. The Go module proxy refuses the real module's
// source here: the source never yields a token.
package oidc

import (
	"context"
	"errors"
)

type settings struct {
	skipIfUnsupportedCloud bool
}

// Option sets up the token source.
type Option func(*settings)

// WithSkipIfUnsupportedCloud: send no token rather than fail off a cloud.
func WithSkipIfUnsupportedCloud(skip bool) Option {
	return func(s *settings) { s.skipIfUnsupportedCloud = skip }
}

type source struct {
	settings settings
}

// NewSource returns a token source that refuses.
func NewSource(options ...Option) *source {
	s := &source{}
	for _, option := range options {
		option(&s.settings)
	}
	return s
}

// Token refuses: the identity code is the refused module's.
func (s *source) Token(ctx context.Context) (string, error) {
	return "", errors.New("usage billing OIDC tokens are not available in this build " +
		"(the Go module proxy refuses gitlab.com/gitlab-org/labkit/v2)")
}
