// Copyright: (c) 2026, behindproxy developers
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

// Package snowplow is the behindproxy lab's stand-in for
// gitlab.com/gitlab-org/labkit/v2/events/snowplow, the usage billing event
// emitter. The Go module proxy refuses the real module's source here, so this
// package only declares what gitlab-runner 19.4 uses (helpers/usage_log/snowplow,
// commands) and NewEmitter fails: the runner then logs that its
// snowplow_billing usage writer is not enabled and runs on without it.
package snowplow

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"gitlab.com/gitlab-org/labkit/v2/events/snowplow/metrics"
)

var errUnavailable = errors.New("usage billing (snowplow events) is not available in this build " +
	"(the Go module proxy refuses gitlab.com/gitlab-org/labkit/v2)")

// SendResult is the outcome of sending one batch of events.
type SendResult struct {
	EventCount int
	StatusCode int
	Err        error
}

// SendCallback receives the outcomes of each send loop.
type SendCallback func(successes []SendResult, failures []SendResult)

type tokenSource interface {
	Token(ctx context.Context) (string, error)
}

type emitterSettings struct {
	callback      SendCallback
	tokens        tokenSource
	metricOptions []metrics.CollectorOption
}

// EmitterOption sets up an Emitter.
type EmitterOption func(*emitterSettings)

// WithCallback sets the send callback.
func WithCallback(callback SendCallback) EmitterOption {
	return func(s *emitterSettings) { s.callback = callback }
}

// WithTokenSource sets where the emitter's identity tokens come from.
func WithTokenSource(tokens tokenSource) EmitterOption {
	return func(s *emitterSettings) { s.tokens = tokens }
}

// WithMetricsCollectorOptions sets up the emitter's Prometheus collector.
func WithMetricsCollectorOptions(options ...metrics.CollectorOption) EmitterOption {
	return func(s *emitterSettings) { s.metricOptions = options }
}

// Emitter would deliver events to a collector in batches.
type Emitter struct{}

// NewEmitter always fails.
func NewEmitter(collectorURI string, options ...EmitterOption) (*Emitter, error) {
	return nil, errUnavailable
}

// Collector returns a collector with no metrics.
func (e *Emitter) Collector() prometheus.Collector {
	return noMetrics{}
}

type noMetrics struct{}

func (noMetrics) Describe(chan<- *prometheus.Desc) {}
func (noMetrics) Collect(chan<- prometheus.Metric) {}

// BillingEventRequiredInput is what every billing event carries.
type BillingEventRequiredInput struct {
	Category      string
	EventType     string
	Realm         string
	UnitOfMeasure string
	Quantity      float64
}

// BillingEventOptionalInput is what a billing event may carry.
type BillingEventOptionalInput struct {
	Subject          string
	DeploymentType   string
	Metadata         map[string]any
	InstanceID       string
	UniqueInstanceID string
	ProjectID        int64
	NamespaceID      int64
	RootNamespaceID  int64
	OrganizationID   int64
}

// Tracker would turn billing events into queued snowplow events.
type Tracker struct{}

// NewTracker always fails.
func NewTracker(appID string, emitter *Emitter) (*Tracker, error) {
	return nil, errUnavailable
}

// TrackBillingEventWithOptionalInput refuses.
func (t *Tracker) TrackBillingEventWithOptionalInput(required BillingEventRequiredInput, optional BillingEventOptionalInput) error {
	return errUnavailable
}

// Stop has nothing to flush.
func (t *Tracker) Stop() {}
