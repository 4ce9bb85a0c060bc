package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/stagecmd"
)

// promFault is how the fake Prometheus answers an instant query.
type promFault string

const (
	faultNone      promFault = "value"     // one sample of 7
	faultSlow      promFault = "slow"      // answers after 3 s, beyond a 1 s timeoutSeconds
	fault500       promFault = "500"       // Prometheus' own error answer with HTTP 500
	fault503       promFault = "503"       // a proxy's plain-text 503
	faultMalformed promFault = "malformed" // HTTP 200 with truncated JSON
	faultEmpty     promFault = "empty"     // an empty vector
	faultNaN       promFault = "NaN"       // one sample of NaN
	faultInf       promFault = "+Inf"      // one sample of +Inf
	faultMatrix    promFault = "matrix"    // a range-query result where a vector was expected
)

// fakeProm is a Prometheus query API that answers the first `healthy` requests with a value
// and every later one with its fault, and records the queries it got. Like Prometheus, it
// answers a batch of queries (pkg/metrics joins the queries of one backend with `or`, each
// labelled __iter8_q by label_replace) with one series per query, and the versions' queries
// merged into one with a series per revision, so that one iteration of an experiment is one
// request.
type fakeProm struct {
	fault   promFault
	healthy int

	mu      sync.Mutex
	queries []string
}

func (f *fakeProm) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.queries = append(f.queries, r.Form.Get("query"))
		n := len(f.queries)
		f.mu.Unlock()
		fault := f.fault
		if n <= f.healthy {
			fault = faultNone
		}
		ts := fmt.Sprintf("%.3f", float64(time.Now().UnixMilli())/1000)
		members := batchMember.FindAllStringSubmatch(r.Form.Get("query"), -1)
		// A query that merges the versions' answers with a series per revision.
		revisions := []string{""}
		if m := mergedRevisions.FindStringSubmatch(r.Form.Get("query")); m != nil {
			revisions = strings.Split(m[1], "|")
		}
		vector := func(v string) string {
			var series []string
			for _, rev := range revisions {
				labels := `"job":"x"`
				if rev != "" {
					labels += `,"revision":"` + rev + `"`
				}
				if len(members) == 0 {
					series = append(series, `{"metric":{`+labels+`},"value":[`+ts+`,"`+v+`"]}`)
				}
				for _, m := range members {
					series = append(series, `{"metric":{`+labels+`,"__iter8_q":"`+m[1]+`"},"value":[`+ts+`,"`+v+`"]}`)
				}
			}
			return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
		}
		w.Header().Set("Content-Type", "application/json")
		switch fault {
		case faultNone:
			fmt.Fprint(w, vector("7"))
		case faultSlow:
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			fmt.Fprint(w, vector("7"))
		case fault500:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"status":"error","errorType":"internal","error":"storage is on fire"}`)
		case fault503:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "upstream connect error or disconnect/reset before headers")
		case faultMalformed:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":`)
		case faultEmpty:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		case faultNaN:
			fmt.Fprint(w, vector("NaN"))
		case faultInf:
			fmt.Fprint(w, vector("+Inf"))
		case faultMatrix:
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":[[`+ts+`,"7"],[`+ts+`,"8"]]}]}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// batchMember finds the label each query of a batch gets: label_replace((q), "__iter8_q", "i", "", "").
var batchMember = regexp.MustCompile(`"__iter8_q",\s*"(\d+)"`)

// mergedRevisions finds the revisions of latencyQuery merged for several versions
// (pkg/metrics sends latency{revision=~"a|b"} once for all; the revisions here have no
// character a regular expression escapes).
var mergedRevisions = regexp.MustCompile(`revision=~"([^"]*)"`)

func (f *fakeProm) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

// promMetric is a Gauge Metric named latency querying the Prometheus at url, per revision.
// extra is more of its spec, indented by four spaces.
func promMetric(t *testing.T, url, query, extra string) string {
	t.Helper()
	return `
apiVersion: iter8.tools/v2alpha2
kind: Metric
metadata:
  name: latency
spec:
  type: Gauge
  provider: prometheus
  urlTemplate: ` + url + `/api/v1/query
  params:
  - name: query
    value: '` + query + `'
` + extra
}

const latencyQuery = `latency{revision="$revision"}`

// faultExperiment is a progressive Canary of the sample-app VirtualService of its
// namespace judged on the latency metric alone (upperLimit 50), with a 1 s interval.
func faultExperiment(t *testing.T, ns, name string, iterations int, rollback bool) string {
	t.Helper()
	return `
apiVersion: iter8.tools/v2alpha2
kind: Experiment
metadata:
  name: ` + name + `
spec:
  target: ` + ns + `/sample-app
  strategy:
    testingPattern: Canary
    deploymentPattern: Progressive
    weights:
      maxCandidateWeight: 50
      maxCandidateWeightIncrement: 10
  criteria:
    objectives:
    - metric: latency
      upperLimit: 50
      rollback_on_failure: ` + fmt.Sprint(rollback) + `
  duration:
    intervalSeconds: 1
    iterationsPerLoop: ` + fmt.Sprint(iterations) + `
` + istioVersions
}

// run is what runStages saw.
type run struct {
	// iterations is the number of iterate stages run.
	iterations int
	// cont is assess's continue result after each iteration.
	cont []string
	// logs is every stage's output.
	logs strings.Builder
	// results is every stage's Tekton results, by stage and iteration.
	results []map[string]string
	// final is finalize's results and error.
	final    map[string]string
	finalErr error
}

// runStages runs the stages like the Pipeline with a 1 s interval, calling between after
// each assess, and finalize with the pipeline status a real Pipeline would pass.
func (e *env) runStages(t *testing.T, ns, name string, between func(k int), args ...string) *run {
	t.Helper()
	r := &run{}
	stage := func(s string, a ...string) (map[string]string, error) {
		res, out, err := e.stage(t, s, ns, name, append(a, args...)...)
		r.logs.WriteString(out)
		r.results = append(r.results, res)
		return res, err
	}
	status := "Succeeded"
	if _, err := stage(stagecmd.StageInit, "--target-wait", "5s"); err != nil {
		t.Errorf("init-experiment: %v", err)
		status = "Failed"
	} else {
		for k := 1; ; k++ {
			r.iterations = k
			if _, err := stage(stagecmd.StageIterate, "--iteration", fmt.Sprint(k), "--interval-seconds", "1"); err != nil {
				t.Errorf("iterate %d: %v", k, err)
				status = "Failed"
				break
			}
			res, err := stage(stagecmd.StageAssess, "--iteration", fmt.Sprint(k), "--interval-seconds", "1")
			r.cont = append(r.cont, res["continue"])
			if err != nil {
				t.Errorf("assess %d: %v", k, err)
				status = "Failed"
				break
			}
			if between != nil {
				between(k)
			}
			if res["continue"] != "true" {
				break
			}
		}
	}
	r.final, r.finalErr = stage(stagecmd.StageFinalize, "--pipeline-status", status)
	return r
}

// metricData returns the aggregated data of the latency metric per version.
func metricData(exp *v2alpha1.Experiment, metric string) map[string]v2alpha1.AggregatedMetricsVersionData {
	if exp.Status.Analysis == nil || exp.Status.Analysis.AggregatedMetrics == nil {
		return nil
	}
	return exp.Status.Analysis.AggregatedMetrics.Data[metric].Data
}

// waitCtx is a context for a helper's own API calls.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
