// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package runner is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/runner, the interface of builtin step
// functions (the runner's `concrete` and `script_legacy`). The Go module proxy
// refuses the real module's source here; nothing in this build calls a
// builtin, since the step-runner service that would is refused (package di).
package runner

import (
	"context"
	"io"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"gitlab.com/gitlab-org/step-runner/proto"
)

type valueKind int

const (
	KindString valueKind = iota + 1
	KindBool
	KindList
)

// BuiltinContext is what a builtin function sees of the job running it.
type BuiltinContext interface {
	GetInput(name string, kind valueKind) (*structpb.Value, error)
	GetInputWithDefault(name string, kind valueKind, inputs map[string]*proto.Spec_Content_Input) (*structpb.Value, error)
	GetJobVars() map[string]*structpb.Value
	GetEnvs() map[string]string
	GetEnvList() []string
	Pipe() (stdout io.Writer, stderr io.Writer)
	WorkDir() string
	GracefulExitDelay() time.Duration
	ListenCancel(ctx context.Context) (context.Context, context.CancelFunc)
}

// BuiltinResult is what a builtin function returns besides an error.
type BuiltinResult struct{}

// BuiltinFunction is a step implemented in Go.
type BuiltinFunction interface {
	Spec() *proto.Spec
	Run(ctx context.Context, builtinCtx BuiltinContext) (BuiltinResult, error)
}
