// Package builtin is iter8's builtin metrics: a load generator (fortio) that sends
// requests to each version, the per-version latency histograms it accumulates in
// status.analysis.aggregatedBuiltinHists, and the metrics computed from them
// (request-count, error-count, error-rate, mean-latency and latency percentiles), which
// experiments reference as iter8-system/<name>.
package builtin

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Provenance is written into aggregatedBuiltinHists, as iter8's collect task did.
const Provenance = "Builtin metrics collector"

// Bucket is one histogram bucket: Count durations in [Start, End] seconds.
type Bucket struct {
	Start float64
	End   float64
	Count int64
}

// DurationHistogram is the latency histogram of a run, in seconds, as fortio writes it.
type DurationHistogram struct {
	Count int64
	Max   float64
	Sum   float64
	Data  []Bucket
}

// Histogram is one version's load results in the shape of fortio's JSON output (the
// fields iter8 reads): request durations and the count of each HTTP status code, with -1
// for requests that got no HTTP answer.
type Histogram struct {
	DurationHistogram DurationHistogram
	RetCodes          map[int]int64
	// Latencies are the latest requests' durations in seconds, rounded to the
	// microsecond, at most MaxLatencies of them: the samples of comparisons.
	Latencies []float64 `json:",omitempty"`
}

// MaxLatencies bounds Histogram.Latencies, as the samples of a comparison are bounded.
const MaxLatencies = 2000

// LatencySamples returns the latencies, in milliseconds as the builtin latency metrics
// are, when name is one of them.
func LatencySamples(name string, h *Histogram) ([]float64, bool) {
	if _, ok := percentiles[name]; !ok && name != "mean-latency" {
		return nil, false
	}
	out := make([]float64, len(h.Latencies))
	for i, v := range h.Latencies {
		out[i] = 1000 * v
	}
	return out, true
}

func appendLatencies(dst, src []float64) []float64 {
	dst = append(dst, src...)
	if n := len(dst); n > MaxLatencies {
		dst = append([]float64(nil), dst[n-MaxLatencies:]...)
	}
	return dst
}

// Merge returns the accumulation of two runs: counts and sums add up, buckets with the
// same interval are merged, and the maximum is the larger one.
func Merge(a, b *Histogram) *Histogram {
	out := &Histogram{RetCodes: map[int]int64{}}
	type key struct{ start, end float64 }
	buckets := map[key]int64{}
	for _, h := range []*Histogram{a, b} {
		if h == nil {
			continue
		}
		d := h.DurationHistogram
		out.DurationHistogram.Count += d.Count
		out.DurationHistogram.Sum += d.Sum
		out.DurationHistogram.Max = math.Max(out.DurationHistogram.Max, d.Max)
		for _, bk := range d.Data {
			buckets[key{bk.Start, bk.End}] += bk.Count
		}
		for code, n := range h.RetCodes {
			out.RetCodes[code] += n
		}
		out.Latencies = appendLatencies(out.Latencies, h.Latencies)
	}
	for k, n := range buckets {
		out.DurationHistogram.Data = append(out.DurationHistogram.Data, Bucket{Start: k.start, End: k.end, Count: n})
	}
	sortBuckets(out.DurationHistogram.Data)
	return out
}

func sortBuckets(b []Bucket) {
	sort.Slice(b, func(i, j int) bool {
		if b[i].Start != b[j].Start {
			return b[i].Start < b[j].Start
		}
		return b[i].End < b[j].End
	})
}

// DecodeHists reads aggregatedBuiltinHists.data: version name -> histogram. Fields other
// than those of Histogram (fortio writes many more) are ignored.
func DecodeHists(h *v2alpha1.AggregatedBuiltinHists) (map[string]*Histogram, error) {
	out := map[string]*Histogram{}
	if h == nil || h.Data == nil || len(h.Data.Raw) == 0 || string(h.Data.Raw) == "null" {
		return out, nil
	}
	if err := json.Unmarshal(h.Data.Raw, &out); err != nil {
		return nil, fmt.Errorf("decoding aggregatedBuiltinHists.data: %w", err)
	}
	return out, nil
}

// AddHists returns aggregatedBuiltinHists with the runs (version name -> histogram) added
// to what prev holds, so that repeated runs accumulate. prev is not modified.
func AddHists(prev *v2alpha1.AggregatedBuiltinHists, runs map[string]*Histogram, now metav1.Time) (*v2alpha1.AggregatedBuiltinHists, error) {
	hists, err := DecodeHists(prev)
	if err != nil {
		return nil, err
	}
	for version, h := range runs {
		hists[version] = Merge(hists[version], h)
	}
	raw, err := json.Marshal(hists)
	if err != nil {
		return nil, fmt.Errorf("encoding aggregatedBuiltinHists.data: %w", err)
	}
	return &v2alpha1.AggregatedBuiltinHists{
		AnalysisMetaData: v2alpha1.AnalysisMetaData{Provenance: Provenance, Timestamp: now},
		Data:             &apiextensionsv1.JSON{Raw: raw},
	}, nil
}

// Errors counts the requests that failed: HTTP status 400 and above, and requests without
// an HTTP answer (fortio records those as -1).
func (h *Histogram) Errors() int64 {
	var n int64
	for code, c := range h.RetCodes {
		if code >= 400 || code < 100 {
			n += c
		}
	}
	return n
}

// Percentile returns the p-th percentile (0 < p <= 100) of the durations in seconds, by
// linear interpolation inside the bucket that holds the rank p/100·Count. It is exact at
// bucket boundaries and needs no random sampling, so an assessment can be reproduced. It
// reports false when there are no durations.
func (h *Histogram) Percentile(p float64) (float64, bool) {
	data := append([]Bucket(nil), h.DurationHistogram.Data...)
	sortBuckets(data)
	var total int64
	for _, b := range data {
		if b.Count > 0 {
			total += b.Count
		}
	}
	if total == 0 || p <= 0 || p > 100 || math.IsNaN(p) {
		return 0, false
	}
	rank := p / 100 * float64(total)
	var cum float64
	for _, b := range data {
		if b.Count <= 0 {
			continue
		}
		next := cum + float64(b.Count)
		if rank <= next {
			return b.Start + (b.End-b.Start)*(rank-cum)/float64(b.Count), true
		}
		cum = next
	}
	last := data[len(data)-1]
	return last.End, true
}

// Value computes the builtin metric with the given name (without namespace) from a
// version's histogram. Latencies are in milliseconds. It reports false when the metric
// has no value yet (a rate or a latency without requests) and fails for an unknown name.
func Value(name string, h *Histogram) (float64, bool, error) {
	count := h.DurationHistogram.Count
	switch name {
	case "request-count":
		return float64(count), true, nil
	case "error-count":
		return float64(h.Errors()), true, nil
	case "error-rate":
		if count == 0 {
			return 0, false, nil
		}
		return float64(h.Errors()) / float64(count), true, nil
	case "mean-latency":
		if count == 0 {
			return 0, false, nil
		}
		return 1000 * h.DurationHistogram.Sum / float64(count), true, nil
	}
	if p, ok := percentiles[name]; ok {
		v, ok := h.Percentile(p)
		return 1000 * v, ok, nil
	}
	return 0, false, fmt.Errorf("%q is not a builtin metric", name)
}

var percentiles = map[string]float64{
	"latency-50th-percentile": 50,
	"latency-75th-percentile": 75,
	"latency-90th-percentile": 90,
	"latency-95th-percentile": 95,
	"latency-99th-percentile": 99,
}
