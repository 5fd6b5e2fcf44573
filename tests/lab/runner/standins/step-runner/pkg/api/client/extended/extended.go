// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package extended is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/step-runner/pkg/api/client/extended, the client that
// runs a job on a step-runner and follows its output. The Go module proxy
// refuses the real module's source here: New refuses, so a job that needs CI
// steps fails with that error.
package extended

import (
	"context"
	"io"

	"google.golang.org/grpc"

	"gitlab.com/gitlab-org/step-runner/internal/refusal"
	"gitlab.com/gitlab-org/step-runner/pkg/api/client"
)

// FollowOutput is where a followed job's logs go.
type FollowOutput struct {
	Logs io.Writer
}

type dialer interface {
	Dial() (*grpc.ClientConn, error)
}

type stepsClient struct{}

// New refuses: the client is the refused module's code.
func New(d dialer) (*stepsClient, error) {
	return nil, refusal.ErrStepsUnavailable
}

func (c *stepsClient) CloseConn() error {
	return nil
}

func (c *stepsClient) Cancel(ctx context.Context, jobID string) error {
	return refusal.ErrStepsUnavailable
}

func (c *stepsClient) RunAndFollow(ctx context.Context, request *client.RunRequest, out *FollowOutput) (client.Status, error) {
	return client.Status{}, refusal.ErrStepsUnavailable
}
