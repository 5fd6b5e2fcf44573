// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package refusal belongs to the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner, CI steps (the `run:` keyword, native
// steps, FF_SCRIPT_TO_STEP_MIGRATION, FF_CONCRETE). The Go module proxy
// refuses the real module's source here. It holds the one error the other
// stand-in packages return wherever CI steps would run.
package refusal

import "errors"

// ErrStepsUnavailable is returned wherever CI steps would run.
var ErrStepsUnavailable = errors.New("CI steps (step-runner) are not available in this build " +
	"(the Go module proxy refuses gitlab.com/gitlab-org/step-runner)")
