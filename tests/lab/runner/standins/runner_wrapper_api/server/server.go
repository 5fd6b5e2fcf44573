// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package server is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api/server, the
// `gitlab-runner wrapper` command's gRPC server. The Go module proxy refuses
// the real module's source here: Listen refuses, with a clear error, and the
// wrapped runner process runs without the API.
package server

import (
	"errors"
	"net"

	"github.com/sirupsen/logrus"

	"gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api"
)

var errUnavailable = errors.New("the runner wrapper's gRPC API is not available in this build " +
	"(the Go module proxy refuses gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api)")

// wrapper is what the API would drive: helpers/runner_wrapper.Wrapper.
type wrapper interface {
	Status() api.Status
	FailureReason() string
	InitiateGracefulShutdown(req api.InitGracefulShutdownRequest) error
	InitiateForcefulShutdown() error
}

type server struct {
	log     logrus.FieldLogger
	wrapper wrapper
}

// New returns a server that refuses to serve.
func New(log logrus.FieldLogger, w wrapper) *server {
	return &server{log: log, wrapper: w}
}

// Listen closes l and returns the refusal, which it also logs (the runner
// calls it in a goroutine and drops the result).
func (s *server) Listen(l net.Listener) error {
	_ = l.Close()
	s.log.WithError(errUnavailable).Error("Not serving the wrapper gRPC API")
	return errUnavailable
}

// Stop has nothing to stop.
func (s *server) Stop() {}
