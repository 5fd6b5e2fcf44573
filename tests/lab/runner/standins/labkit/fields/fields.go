// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package fields is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/labkit/v2/fields, standard log field names. The Go
// module proxy refuses the real module's source here, so this package only
// declares the names gitlab-runner 19.4 uses. With no deprecated aliases
// listed, the runner's log keeps its own (legacy) field names.
package fields

// Field names the runner logs under.
const (
	DurationS      = "duration_s"
	HTTPStatusCode = "status"
)

// Deprecation tells which standard field replaces a deprecated alias.
type deprecation struct {
	Standard string
}

// Deprecated maps a deprecated field name to its replacement: none here.
var Deprecated = map[string]deprecation{}

// VariantVersion maps a standard field name to the schema version that
// introduced it: none here.
var VariantVersion = map[string]int{}
