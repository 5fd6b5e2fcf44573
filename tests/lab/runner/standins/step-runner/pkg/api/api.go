// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package api is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/api. The Go module proxy refuses the
// real module's source here; only the socket helpers the runner uses.
package api

import (
	"net"
	"os"
	"path/filepath"
)

// DefaultSocketPath is where a step-runner server listens unless told otherwise.
func DefaultSocketPath() string {
	return filepath.Join(os.TempDir(), "step-runner.sock")
}

// SocketAddr is the unix socket address of path.
func SocketAddr(path string) *net.UnixAddr {
	return &net.UnixAddr{Name: path, Net: "unix"}
}
