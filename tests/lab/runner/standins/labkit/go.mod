// Lab stand-in for gitlab.com/gitlab-org/labkit/v2: the Go module proxy
// refuses the real module's source here (see ../../README.md).
module gitlab.com/gitlab-org/labkit/v2

go 1.26

require github.com/prometheus/client_golang v1.23.2
