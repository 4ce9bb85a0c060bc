//go:build !unit

package metrics

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// BenchmarkQueryShapes measures what one iteration's queries cost a real Prometheus
// depending on how they are sent, at 1 × 3, 10 × 10 and 50 × 50: as written, batched
// DefaultBatchSize to a request (what the stages sent before merging); each metric's
// queries merged by mergeVersions, batched the same way (what Collect sends); and the
// lower bound of any merge, a hand-made merge without the zero per version that
// `or on() vector(0)` needs. At 10 × 10 it also measures the other ways recorded in
// docs/benchmarks.md. Besides ns/op it reports prom-cpu-ms/op, the processor time the
// Prometheus process used per iteration (from /proc, in steps of 10 ms: run it for
// seconds, -benchtime 3s), which no client-side change can remove. Requests run at most
// DefaultParallelism at a time, as Collect sends them.
func BenchmarkQueryShapes(b *testing.B) {
	revisions := make([]string, 50)
	for i := range revisions {
		revisions[i] = fmt.Sprintf("sample-app-v%d", i+1)
	}
	url, prom := benchBackend(b, revisions)
	if prom == nil {
		b.Skip("needs a real Prometheus: a fake's cost says nothing")
	}
	client, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		b.Fatal(err)
	}
	api := promv1.NewAPI(client)
	idle0, err := prom.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	idle1, err := prom.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("Prometheus idle (scraping 50 revisions' series every second): %.1f ms of CPU per second", float64(idle1-idle0)/2e6)

	for _, size := range []shapeSize{{1, 3}, {10, 10}, {50, 50}} {
		sh := shapesOf(b, size, revisions)
		checkShapes(b, api, sh, revisions[:size.versions])
		var singles, merged []string
		for _, qs := range sh.singles {
			singles = append(singles, qs...)
		}
		seen := map[string]bool{}
		for _, m := range sh.merged {
			for _, p := range m.parts {
				if !seen[p.query] {
					seen[p.query] = true
					merged = append(merged, p.query)
				}
			}
		}
		if size.versions == 1 {
			merged = singles
		}
		shapes := []struct {
			name    string
			queries []string
			perReq  int // queries per request
		}{
			{"batched", singles, DefaultBatchSize},
			{"merged", merged, DefaultBatchSize},
			{"merged-no-zero", sh.lower, DefaultBatchSize},
		}
		if size == (shapeSize{10, 10}) {
			shapes = append(shapes, []struct {
				name    string
				queries []string
				perReq  int
			}{
				{"one-request", singles, len(singles)},
				{"request-per-query", singles, 1},
				{"merged-by-hand", sh.byHand, DefaultBatchSize},
			}...)
		}
		for _, c := range shapes {
			b.Run(size.String()+"/"+c.name, func(b *testing.B) {
				n := (len(c.queries) + c.perReq - 1) / c.perReq
				cpu0, err := prom.CPUTime()
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					sem := make(chan struct{}, DefaultParallelism)
					var wg sync.WaitGroup
					errs := make(chan error, n)
					for i := range n {
						lo, hi := i*len(c.queries)/n, (i+1)*len(c.queries)/n
						sem <- struct{}{}
						wg.Go(func() {
							defer func() { <-sem }()
							_, _, _, err := api.Query(b.Context(), batchQuery(c.queries[lo:hi]), time.Now())
							errs <- err
						})
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				cpu1, err := prom.CPUTime()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(cpu1-cpu0)/1e6/float64(b.N), "prom-cpu-ms/op")
			})
		}
	}
}

// checkShapes fails unless, at one instant, every merged query gives each version the
// result its own query gives (mergeVersions' by Collect's reading, mergeByHand's by the
// value of each revision's series): the shapes measured must be real alternatives.
func checkShapes(b *testing.B, api promv1.API, sh iterationShapes, revisions []string) {
	b.Helper()
	at := time.Now()
	query := func(q string) model.Vector {
		v, _, _, err := api.Query(b.Context(), q, at)
		if err != nil {
			b.Fatalf("%s: %v", q, err)
		}
		return v.(model.Vector)
	}
	same := func(a, b Result) bool {
		return a.State == b.State && a.Reason == b.Reason && (a.Value == b.Value || math.IsNaN(a.Value) && math.IsNaN(b.Value))
	}
	for m, qs := range sh.singles {
		singles := make([]Result, len(qs))
		for v, q := range qs {
			singles[v] = promValue(query(q))
		}
		if len(sh.merged) > 0 {
			var answers []model.Vector
			for _, p := range sh.merged[m].parts {
				answers = append(answers, query(p.query))
			}
			parts, err := sh.merged[m].answer(answers)
			if err != nil {
				b.Fatalf("metric %d: %v", m, err)
			}
			for v := range qs {
				if got := promValue(parts[v]); !same(got, singles[v]) {
					b.Fatalf("metric %d, %s: merged %+v, alone %+v", m, revisions[v], got, singles[v])
				}
			}
		}
		byRevision := map[string]float64{}
		for _, s := range query(sh.byHand[m]) {
			byRevision[string(s.Metric["revision_name"])] = float64(s.Value)
		}
		for v, r := range revisions {
			if got := number(byRevision[r]); !same(got, singles[v]) {
				b.Fatalf("metric %d, %s: merged by hand %v, alone %+v", m, r, byRevision[r], singles[v])
			}
		}
	}
}
