// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package di is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/di, which assembles the step-runner
// gRPC service. The Go module proxy refuses the real module's source here:
// StepRunnerService refuses, so `gitlab-runner-helper steps serve` and the
// shell executor's in-process step server stop with that error.
package di

import (
	"log/slog"

	"gitlab.com/gitlab-org/step-runner/internal/refusal"
	"gitlab.com/gitlab-org/step-runner/pkg/runner"
	"gitlab.com/gitlab-org/step-runner/proto"
)

// Container holds what the service would be built from.
type Container struct {
	builtins       map[string]runner.BuiltinFunction
	operatorLogger *slog.Logger
}

// NewContainer applies options to an empty container.
func NewContainer(options ...func(*Container)) *Container {
	c := &Container{builtins: map[string]runner.BuiltinFunction{}}
	for _, option := range options {
		option(c)
	}
	return c
}

// WithBuiltinFunc registers a builtin step function under name.
func WithBuiltinFunc(name string, function runner.BuiltinFunction) func(*Container) {
	return func(c *Container) { c.builtins[name] = function }
}

// WithOperatorLogger sets where operator-facing logs go.
func WithOperatorLogger(logger *slog.Logger) func(*Container) {
	return func(c *Container) { c.operatorLogger = logger }
}

// service is the step-runner gRPC service; every call is unimplemented.
type service struct {
	proto.UnimplementedStepRunnerServer
}

// StepRunnerService refuses: the service is the refused module's code.
func (c *Container) StepRunnerService() (*service, error) {
	return nil, refusal.ErrStepsUnavailable
}
