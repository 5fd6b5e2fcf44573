// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package gracefulexitcmd is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/runner/gracefulexitcmd. The Go module
// proxy refuses the real module's source here. Its only callers run CI steps,
// which this build refuses elsewhere; it still returns a working command.
package gracefulexitcmd

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// New returns a command that gets SIGTERM when ctx is done and is killed, and
// its output pipes closed, delay later.
func New(ctx context.Context, delay time.Duration, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error {
		return cmd.Process.Signal(syscall.SIGTERM)
	}
	cmd.WaitDelay = delay
	return cmd
}
