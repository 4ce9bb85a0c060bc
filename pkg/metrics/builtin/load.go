package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"fortio.org/fortio/periodic"
	"fortio.org/log"
)

// The defaults of iter8's metrics/collect task.
const (
	DefaultNumRequests = 100
	DefaultQPS         = 8
	DefaultConnections = 4
)

// LoadOptions says what load to send to one URL.
type LoadOptions struct {
	URL string
	// Headers are sent with every request.
	Headers map[string]string
	// NumRequests is the exact number of requests; it takes precedence over Duration.
	// When both are zero, DefaultNumRequests.
	NumRequests int64
	// Duration is how long to send requests when NumRequests is zero.
	Duration time.Duration
	// QPS is the total rate over all connections; DefaultQPS when 0.
	QPS float64
	// Connections is the number of parallel connections; DefaultConnections when 0.
	Connections int
	// Payload, when set, is sent as the body of a POST.
	Payload []byte
	// ContentType, when set, is the body's type and makes the request a POST.
	ContentType string
	// RequestTimeout bounds each request; DefaultRequestTimeout (fortio's) when 0.
	RequestTimeout time.Duration
}

var quietFortio sync.Once

// Load sends the load, paced by fortio's periodic runner, and returns its histogram.
// Failed requests (HTTP errors, connection errors) are counted in the histogram, not
// returned as errors; the error is for a run that could not start (an invalid URL or
// header, a host that does not resolve). Cancelling ctx ends the run early with the
// requests sent so far.
func Load(ctx context.Context, o LoadOptions) (*Histogram, error) {
	if o.URL == "" {
		return nil, errors.New("load: no URL")
	}
	if o.NumRequests < 0 || o.Duration < 0 || o.QPS < 0 || o.Connections < 0 || o.RequestTimeout < 0 {
		return nil, fmt.Errorf("load for %s: negative numRequests, duration, qps, connections or request timeout", o.URL)
	}
	t, err := newTarget(o)
	if err != nil {
		return nil, err
	}
	if err := t.resolve(ctx); err != nil {
		return nil, fmt.Errorf("load for %s: %w", o.URL, err)
	}
	quietFortio.Do(func() {
		// periodic logs every run to stderr, and warns when it lowers the number of
		// threads; the task's log is not the place for them.
		log.SetLogLevelQuiet(log.Critical)
	})
	// periodic takes the aborter out of the options it is given, so keep a reference.
	stop := periodic.NewAborter()
	ro := periodic.RunnerOptions{
		QPS:        o.QPS,
		NumThreads: o.Connections,
		Out:        io.Discard,
		Stop:       stop,
	}
	if ro.QPS == 0 {
		ro.QPS = DefaultQPS
	}
	if ro.NumThreads == 0 {
		ro.NumThreads = DefaultConnections
	}
	switch {
	case o.NumRequests > 0:
		ro.Exactly = o.NumRequests
	case o.Duration > 0:
		ro.Duration = o.Duration
	default:
		ro.Exactly = DefaultNumRequests
	}

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			stop.Abort(false)
		case <-done:
		}
	}()
	res, codes, latencies := run(ctx, t, ro, ro.Exactly == 0)
	h := fromPeriodic(res, codes)
	h.Latencies = latencies
	return h, nil
}

func fromPeriodic(res periodic.RunnerResults, codes map[int]int64) *Histogram {
	h := &Histogram{RetCodes: map[int]int64{}}
	if d := res.DurationHistogram; d != nil {
		h.DurationHistogram = DurationHistogram{Count: d.Count, Max: d.Max, Sum: d.Sum}
		for _, b := range d.Data {
			h.DurationHistogram.Data = append(h.DurationHistogram.Data, Bucket{Start: b.Start, End: b.End, Count: b.Count})
		}
	}
	for code, n := range codes {
		h.RetCodes[code] = n
	}
	return h
}
