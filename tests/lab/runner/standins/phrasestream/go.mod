// Lab stand-in for gitlab.com/ajwalker/phrasestream: the Go module proxy
// refuses the real module's source here (see ../../README.md).
module gitlab.com/ajwalker/phrasestream

go 1.26
