// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package client is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/api/client. The Go module proxy
// refuses the real module's source here; this package only declares the
// request and status types gitlab-runner 19.4 uses. No step-runner job ever
// runs in this build (see package extended).
package client

import "time"

// Variable is a job variable handed to a step-runner job.
type Variable struct {
	Key    string
	Value  string
	File   bool
	Masked bool
}

// RunRequest asks step-runner to run steps as job Id.
type RunRequest struct {
	Id        string
	Timeout   *time.Duration
	WorkDir   string
	BuildDir  string
	Env       map[string]string
	Steps     string
	Variables []Variable
}

type jobState int

const (
	stateUnknown jobState = iota
	StateSuccess
	StateCancelled
)

func (s jobState) String() string {
	switch s {
	case StateSuccess:
		return "success"
	case StateCancelled:
		return "cancelled"
	default:
		return "unknown"
	}
}

type errorKind int

const (
	errorNone errorKind = iota
	ErrorInternal
	ErrorStepFailure
	ErrorCancelled
	ErrorTimeout
	ErrorUnknown
)

// Status is how a step-runner job ended.
type Status struct {
	State     jobState
	Message   string
	ErrorKind errorKind
}
