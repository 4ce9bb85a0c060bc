package v2alpha1

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MetricHistory holds, per metric and version, the value of every recorded iteration, so
// that a report can draw how each metric moved. It is bounded (see RecordHistory): at most
// MaxHistoryIterations entries, and at most MaxHistoryBytes of values in all; beyond either
// bound it is downsampled, keeping the first and the latest iteration, never refused.
type MetricHistory struct {
	AnalysisMetaData `json:",inline"`
	// Iterations are the iterations recorded, ascending: the i-th value of every series is
	// of Iterations[i].
	Iterations []int32 `json:"iterations"`
	// Data holds, per metric reference (as in aggregatedMetrics.data) and version, one
	// entry per recorded iteration, separated by single spaces: the value assess judged as
	// decimal text with at most 6 significant digits ("0.879", "136.084", "1.5e+06"), "-"
	// when there was no value (no data, or the version was not measured) and "!" when the
	// query failed.
	// +optional
	Data map[string]map[string]string `json:"data,omitempty"`
}

// History bounds.
const (
	// MaxHistoryIterations bounds the entries of MetricHistory.
	MaxHistoryIterations = 100
	// MaxHistoryBytes bounds the text of all of MetricHistory's series together.
	MaxHistoryBytes = 128 << 10
)

// The history's entries that are not a value.
const (
	HistoryNoData = "-"
	HistoryError  = "!"
)

// HistoryPoint is one entry of a series: a value, no data, or an error.
type HistoryPoint struct {
	Iteration int32
	State     MetricState
	// Value is set when State is Value.
	Value float64
}

// HistoryToken is the text of one entry for data.
func HistoryToken(d AggregatedMetricsVersionData) string {
	if d.Value != nil {
		if f, err := d.Value.Float(); err == nil {
			return strconv.FormatFloat(f, 'g', 6, 64)
		}
	}
	if d.State == MetricStateError {
		return HistoryError
	}
	return HistoryNoData
}

// Series decodes the series of metric ref (as recorded) and version. It fails when the
// series is not a valid history: a token that is neither a number, "-" nor "!", or a
// number of entries other than len(Iterations).
func (h *MetricHistory) Series(ref, version string) ([]HistoryPoint, error) {
	if h == nil {
		return nil, nil
	}
	s, ok := h.Data[ref][version]
	if !ok {
		return nil, nil
	}
	tokens := strings.Fields(s)
	if len(tokens) != len(h.Iterations) {
		return nil, fmt.Errorf("history of %s for %s has %d entries, want one per iteration (%d)", ref, version, len(tokens), len(h.Iterations))
	}
	out := make([]HistoryPoint, len(tokens))
	for i, t := range tokens {
		p := HistoryPoint{Iteration: h.Iterations[i]}
		switch t {
		case HistoryNoData:
			p.State = MetricStateNoData
		case HistoryError:
			p.State = MetricStateError
		default:
			f, err := strconv.ParseFloat(t, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("history of %s for %s: entry %d is %q, not a number, %q or %q", ref, version, i, BoundedValue(t), HistoryNoData, HistoryError)
			}
			p.State, p.Value = MetricStateValue, f
		}
		out[i] = p
	}
	return out, nil
}

// RecordHistory returns h (nil for a new history) with the values of iteration k from agg
// appended: every metric and version of agg, and "-" for a series agg lacks this time or
// that began later. Recording an iteration not after the latest recorded is a no-op. When
// the history then exceeds MaxHistoryIterations entries or MaxHistoryBytes of text, every
// other entry is dropped (the first and the latest are always kept) until it fits, or until
// only those two are left. h is not modified.
func RecordHistory(h *MetricHistory, k int32, agg *AggregatedMetricsAnalysis, meta AnalysisMetaData) *MetricHistory {
	if agg == nil {
		return h
	}
	if h != nil && len(h.Iterations) > 0 && h.Iterations[len(h.Iterations)-1] >= k {
		return h
	}
	n := 0
	series := map[string]map[string][]string{}
	if h != nil {
		n = len(h.Iterations)
		for ref, versions := range h.Data {
			series[ref] = map[string][]string{}
			for v, s := range versions {
				t := strings.Fields(s)
				// A malformed series (hand-edited) starts again rather than failing the
				// status write: its length is made right with "-".
				if len(t) != n {
					t = filled(n)
				}
				series[ref][v] = t
			}
		}
	}
	iterations := make([]int32, 0, n+1)
	if h != nil {
		iterations = append(iterations, h.Iterations...)
	}
	iterations = append(iterations, k)
	for ref, md := range agg.Data {
		if series[ref] == nil {
			series[ref] = map[string][]string{}
		}
		for v := range md.Data {
			if series[ref][v] == nil {
				series[ref][v] = filled(n)
			}
		}
	}
	for ref, versions := range series {
		for v, t := range versions {
			tok := HistoryNoData
			if d, ok := agg.Data[ref].Data[v]; ok {
				tok = HistoryToken(d)
			}
			versions[v] = append(t, tok)
		}
	}
	for len(iterations) > 2 && (len(iterations) > MaxHistoryIterations || historyBytes(series) > MaxHistoryBytes) {
		keep := halve(len(iterations))
		iterations = pick(iterations, keep)
		for _, versions := range series {
			for v, t := range versions {
				versions[v] = pick(t, keep)
			}
		}
	}
	out := &MetricHistory{AnalysisMetaData: meta, Iterations: iterations, Data: map[string]map[string]string{}}
	for ref, versions := range series {
		out.Data[ref] = map[string]string{}
		for v, t := range versions {
			out.Data[ref][v] = strings.Join(t, " ")
		}
	}
	return out
}

func filled(n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = HistoryNoData
	}
	return t
}

// historyBytes is the text of the series as the status holds them.
func historyBytes(series map[string]map[string][]string) int {
	total := 0
	for _, versions := range series {
		for _, t := range versions {
			for _, s := range t {
				total += len(s) + 1
			}
		}
	}
	return total
}

// halve returns the indexes of a history of n entries that downsampling keeps: the even
// ones, and the last.
func halve(n int) []int {
	keep := make([]int, 0, n/2+1)
	for i := 0; i < n; i += 2 {
		keep = append(keep, i)
	}
	if keep[len(keep)-1] != n-1 {
		keep = append(keep, n-1)
	}
	return keep
}

func pick[T any](s []T, keep []int) []T {
	out := make([]T, len(keep))
	for i, j := range keep {
		out[i] = s[j]
	}
	return out
}

// HistoryRefs returns the metric references of the history, sorted.
func (h *MetricHistory) HistoryRefs() []string {
	if h == nil {
		return nil
	}
	refs := make([]string, 0, len(h.Data))
	for ref := range h.Data {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	return refs
}
