package builtin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
	"golang.org/x/net/http/httpguts"
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
	// RequestTimeout bounds each request; fortio's default when 0.
	RequestTimeout time.Duration
}

var quietFortio sync.Once

// Load sends the load with fortio and returns its histogram. Failed requests (HTTP
// errors, connection errors) are counted in the histogram, not returned as errors; the
// error is for a run that could not start (an invalid URL or header). Cancelling ctx ends
// the run early with the requests sent so far.
func Load(ctx context.Context, o LoadOptions) (*Histogram, error) {
	if o.URL == "" {
		return nil, errors.New("load: no URL")
	}
	if o.NumRequests < 0 || o.Duration < 0 || o.QPS < 0 || o.Connections < 0 {
		return nil, fmt.Errorf("load for %s: negative numRequests, duration, qps or connections", o.URL)
	}
	quietFortio.Do(func() {
		// fortio logs every run, and every failed request, to stderr; failures are
		// counted in the histogram, and the task's log is not the place for them.
		log.SetLogLevelQuiet(log.Critical)
	})
	// fortio takes the aborter out of the options it is given, so keep a reference.
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
	opts := fhttp.HTTPRunnerOptions{
		RunnerOptions: ro,
		// A version that fails its first requests is measured, not skipped.
		AllowInitialErrors: true,
	}
	opts.HTTPOptions.URL = o.URL
	opts.HTTPOptions.HTTPReqTimeOut = o.RequestTimeout
	opts.HTTPOptions.Payload = o.Payload
	opts.HTTPOptions.ContentType = o.ContentType
	opts.HTTPOptions.Init(o.URL)
	names := make([]string, 0, len(o.Headers))
	for k := range o.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		// fortio accepts names that net/http would refuse, such as one with a space.
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(o.Headers[k]) {
			return nil, fmt.Errorf("load for %s: invalid header %q", o.URL, k)
		}
		if err := opts.HTTPOptions.AddAndValidateExtraHeader(k + ": " + o.Headers[k]); err != nil {
			return nil, fmt.Errorf("load for %s: header %q: %w", o.URL, k, err)
		}
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
	res, err := fhttp.RunHTTPTest(&opts)
	if err != nil {
		return nil, fmt.Errorf("load for %s: %w", o.URL, err)
	}
	return fromFortio(res), nil
}

func fromFortio(res *fhttp.HTTPRunnerResults) *Histogram {
	h := &Histogram{RetCodes: map[int]int64{}}
	if d := res.DurationHistogram; d != nil {
		h.DurationHistogram = DurationHistogram{Count: d.Count, Max: d.Max, Sum: d.Sum}
		for _, b := range d.Data {
			h.DurationHistogram.Data = append(h.DurationHistogram.Data, Bucket{Start: b.Start, End: b.End, Count: b.Count})
		}
	}
	for code, n := range res.RetCodes {
		h.RetCodes[code] = n
	}
	return h
}
