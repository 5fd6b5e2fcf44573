// Lab stand-in for gitlab.com/gitlab-org/moa: the Go module proxy refuses the
// real module's source here (see ../../README.md).
module gitlab.com/gitlab-org/moa

go 1.26
