// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package proxy is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/api/proxy, which would carry a
// step-runner connection over stdin/stdout (`gitlab-runner-helper steps
// proxy`). The Go module proxy refuses the real module's source here.
package proxy

import (
	"io"
	"net"

	"gitlab.com/gitlab-org/step-runner/internal/refusal"
)

// Proxy refuses.
func Proxy(in io.Reader, out io.Writer, conn *net.UnixConn) error {
	return refusal.ErrStepsUnavailable
}
