// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package proto is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/proto, the step-runner gRPC protocol. The
// Go module proxy refuses the real module's source here. These are plain Go
// types with the fields gitlab-runner 19.4 uses (builtin step specs, and the
// messages of its steps/stepstest fake), not protocol buffers, so nothing
// can be served or called with them: RegisterStepRunnerServer registers
// nothing.
package proto

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type valueType int

const (
	ValueType_string valueType = iota + 1
	ValueType_boolean
	ValueType_array
)

// Spec_Content_Input declares one input of a step.
type Spec_Content_Input struct {
	Type      valueType
	Default   *structpb.Value
	Sensitive bool
}

// Spec_Content is what a step takes.
type Spec_Content struct {
	Inputs map[string]*Spec_Content_Input
}

func (c *Spec_Content) GetInputs() map[string]*Spec_Content_Input {
	if c == nil {
		return nil
	}
	return c.Inputs
}

// Spec is a step's specification.
type Spec struct {
	Spec *Spec_Content
}

func (s *Spec) GetSpec() *Spec_Content {
	if s == nil {
		return nil
	}
	return s.Spec
}

type (
	RunRequest         struct{}
	RunResponse        struct{}
	CancelRequest      struct{ Id string }
	CancelResponse     struct{}
	CloseRequest       struct{ Id string }
	CloseResponse      struct{}
	FollowLogsRequest  struct{ Id string }
	FollowLogsResponse struct{ Data []byte }
	StatusRequest      struct{ Id string }
	StatusResponse     struct{ Jobs []*Status }
)

type stepResult int

const (
	StepResult_running stepResult = iota + 1
	StepResult_cancelled
)

type statusErrorKind int

const StatusError_cancelled statusErrorKind = 1

// StatusError is why a job did not succeed.
type StatusError struct {
	Kind    statusErrorKind
	Message string
}

// Status is a job's state.
type Status struct {
	Id        string
	Status    stepResult
	StartTime *timestamppb.Timestamp
	EndTime   *timestamppb.Timestamp
	Error     *StatusError
}

// stepRunnerServer is the step-runner service.
type stepRunnerServer interface {
	Run(context.Context, *RunRequest) (*RunResponse, error)
	Cancel(context.Context, *CancelRequest) (*CancelResponse, error)
	FollowLogs(*FollowLogsRequest, grpc.ServerStreamingServer[FollowLogsResponse]) error
	Status(context.Context, *StatusRequest) (*StatusResponse, error)
	Close(context.Context, *CloseRequest) (*CloseResponse, error)
}

func unimplemented(method string) error {
	return status.Errorf(codes.Unimplemented, "step-runner %s is not available in this build "+
		"(the Go module proxy refuses gitlab.com/gitlab-org/step-runner)", method)
}

// UnimplementedStepRunnerServer answers every call as unimplemented.
type UnimplementedStepRunnerServer struct{}

func (UnimplementedStepRunnerServer) Run(context.Context, *RunRequest) (*RunResponse, error) {
	return nil, unimplemented("Run")
}

func (UnimplementedStepRunnerServer) Cancel(context.Context, *CancelRequest) (*CancelResponse, error) {
	return nil, unimplemented("Cancel")
}

func (UnimplementedStepRunnerServer) FollowLogs(*FollowLogsRequest, grpc.ServerStreamingServer[FollowLogsResponse]) error {
	return unimplemented("FollowLogs")
}

func (UnimplementedStepRunnerServer) Status(context.Context, *StatusRequest) (*StatusResponse, error) {
	return nil, unimplemented("Status")
}

func (UnimplementedStepRunnerServer) Close(context.Context, *CloseRequest) (*CloseResponse, error) {
	return nil, unimplemented("Close")
}

// RegisterStepRunnerServer registers nothing: these types are not protocol
// buffers, so s could not decode a call to srv.
func RegisterStepRunnerServer(s grpc.ServiceRegistrar, srv stepRunnerServer) {}
