// Lab stand-in for gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api:
// the Go module proxy refuses the real module's source here (see ../../README.md).
module gitlab.com/gitlab-org/gitlab-runner/helpers/runner_wrapper/api

go 1.26

require github.com/sirupsen/logrus v1.10.0
