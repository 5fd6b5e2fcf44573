// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package api is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api, the types of
// the `gitlab-runner wrapper` command's gRPC API. The Go module proxy refuses
// the real module's source here (the runner's own replace to its nested
// directory only works when the runner is the main module), so this package
// only declares what helpers/runner_wrapper uses. The wrapped process still
// runs; the gRPC API that would drive it does not exist in this build.
package api

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
)

// Status is the wrapped process's state.
type Status int

const (
	StatusUnknown Status = iota
	StatusRunning
	StatusInShutdown
	StatusStopped
)

func (s Status) String() string {
	switch s {
	case StatusRunning:
		return "running"
	case StatusInShutdown:
		return "in_shutdown"
	case StatusStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// ErrProcessNotInitialized: there is no wrapped process (yet, or any more).
var ErrProcessNotInitialized = errors.New("process not initialized")

// callbackDef is where and how to call back once the process has stopped.
type callbackDef interface {
	URL() string
	Method() string
}

// InitGracefulShutdownRequest is a request, through the gRPC API, to stop
// the wrapped process gracefully.
type InitGracefulShutdownRequest interface {
	ShutdownCallbackDef() callbackDef
}

// ShutdownCallback is run once the wrapped process has stopped.
type ShutdownCallback interface {
	Run(ctx context.Context)
}

type unavailableCallback struct {
	log logrus.FieldLogger
	def callbackDef
}

// NewShutdownCallback returns a callback that only logs that it cannot call
// def: the callback client is the refused module's code.
func NewShutdownCallback(log logrus.FieldLogger, def callbackDef) ShutdownCallback {
	return &unavailableCallback{log: log, def: def}
}

func (c *unavailableCallback) Run(ctx context.Context) {
	c.log.WithField("target", c.def.URL()).
		Error("runner wrapper shutdown callback is not available in this build " +
			"(the Go module proxy refuses gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api)")
}
