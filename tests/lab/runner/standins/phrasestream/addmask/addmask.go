// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package addmask is the behindproxy lab's stand-in for
// gitlab.com/ajwalker/phrasestream/addmask. The Go module proxy refuses the
// real module's source here, so this package only declares what gitlab-runner
// 19.4 uses (commands/helpers, the helper's `proxy-exec` command) and refuses
// to work: proxy_exec is not available in this build.
package addmask

import (
	"errors"
	"io"
)

var errUnavailable = errors.New("proxy_exec (masking of phrases added at run time) is not available in this build " +
	"(the Go module proxy refuses gitlab.com/ajwalker/phrasestream)")

// phraseStore is what the runner hands over: its encrypted phrase store.
type phraseStore interface {
	List() ([]string, error)
	Add(phrase string) error
}

// AddMask would mask, in each output stream, the phrases a job adds at run time.
type AddMask struct{}

// New always fails: the masking writer is the refused module's code.
func New(store phraseStore, stdout, stderr io.Writer) (*AddMask, error) {
	return nil, errUnavailable
}

// Get returns the writer for stream fd (0 stdout, 1 stderr); New never returns
// an AddMask, so this is only reached through a nil value and discards.
func (m *AddMask) Get(fd int) io.Writer {
	return io.Discard
}

// Close releases nothing.
func (m *AddMask) Close() error {
	return nil
}
