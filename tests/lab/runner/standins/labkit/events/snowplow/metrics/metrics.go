// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package metrics is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/labkit/v2/events/snowplow/metrics. The Go module proxy
// refuses the real module's source here; usage billing is not available in
// this build, so these options are only recorded.
package metrics

type collectorSettings struct {
	namespace string
	buckets   []float64
}

// CollectorOption sets up the emitter's Prometheus collector.
type CollectorOption func(*collectorSettings)

// WithCollectorNamespace names the collector's metrics namespace.
func WithCollectorNamespace(namespace string) CollectorOption {
	return func(s *collectorSettings) { s.namespace = namespace }
}

// WithCollectorBatchDeliveryDurationBuckets sets the histogram buckets.
func WithCollectorBatchDeliveryDurationBuckets(buckets []float64) CollectorOption {
	return func(s *collectorSettings) { s.buckets = buckets }
}
