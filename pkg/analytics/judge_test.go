package analytics

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// The data of Kayenta's ClassifierSuite (spinnaker/kayenta,
// kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala).
var (
	kayentaNear10 = []float64{
		9.7767343120109462, 10.587071850477695, 7.8375506388901766, 9.3243326886113884,
		8.3774505409784421, 8.9359264399606282, 8.2707663324728511, 9.7484308126716925,
		11.623746715547156, 9.2753442679633942, 8.1538047749171518, 10.562020975754294,
		13.498135575451835, 11.054419256110332, 6.9538903590055092, 12.521008342195479,
		9.0216358603546443, 4.9234856699531662, 11.251360203607172, 11.598449508040337,
		8.435232204668182, 11.110228516867279, 10.70063380164755, 8.9212773652115249,
		10.086167067942661, 11.42107515483087, 9.3792347813644952, 7.7980320148552593,
		10.62339807275746, 11.909642062063739,
	}
	kayentaControl10 = []float64{
		11.1453586774086, 9.9618059885597017, 7.068574306369829, 7.3012661810483657,
		9.7944630265656727, 9.6037918603687302, 6.1867793350339388, 12.345599159550174,
		10.371891733859533, 8.6094300785016724, 9.913162673361084, 10.361375299003466,
		14.206800387518818, 10.946153754753301, 10.215876627044048, 11.739760899484603,
		10.907627468626439, 12.823353694464775, 8.1018609771732137, 8.4981616408804932,
		12.113441374697231, 13.272210809932028, 10.114579381663297, 6.9463958767978067,
		6.2105278541727778, 10.160401684903775, 8.3457712066455461, 8.383822063895833,
		7.0020205070083765, 10.755757401808442,
	}
	kayentaNear20 = []float64{
		20.878412601720026, 21.78550581191622, 19.70828084717019, 15.859946903461562,
		19.510058772176841, 19.392005525270303, 22.926528314912101, 17.156530276709894,
		18.655117916226171, 23.422607911610392, 24.055817684156644, 22.62689958516501,
		21.979472967817678, 21.659318607218694, 20.067707574072426, 22.119570836305414,
		16.44037132663307, 21.559622826341268, 21.000181443489218, 17.779369411412663,
		17.806006358943584, 18.537200618386109, 20.555550300210797, 19.552928184468378,
		21.771118944087092, 21.809622806176627, 20.961762909905271, 20.977571577503021,
		19.106303205498794, 16.976918966987078,
	}
	kayentaControl20 = []float64{
		20.758113589510348, 22.802059629464559, 20.612340363492208, 20.973274654749986,
		23.469237330498622, 21.53133988954805, 21.767353687439805, 18.308050730374301,
		19.062145167827566, 25.879498436001779, 18.982629726336128, 19.387920182269266,
		18.995398251246982, 24.228420230932805, 20.050985172694688, 18.2340451091756,
		17.870515494460435, 23.058103863806618, 18.400259567501134, 16.971352091177167,
		19.467529066052151, 17.90465423342031, 17.553948617825831, 16.104611843907193,
		24.38171081433039, 15.919294339922635, 20.479409626304697, 19.08307201492406,
		17.455788050722866, 18.853826823235142,
	}
)

// TestClassifyKayentaCases runs the cases of Kayenta's ClassifierSuite (confidence 0.95).
func TestClassifyKayentaCases(t *testing.T) {
	for _, tc := range []struct {
		name                string
		experiment, control []float64
		direction           v2alpha1.ComparisonDirection
		want                v2alpha1.Classification
	}{
		{"Pass Metric", kayentaNear10, kayentaControl10, v2alpha1.DirectionEither, v2alpha1.ClassificationPass},
		{"High Metric", kayentaNear20, kayentaControl10, v2alpha1.DirectionEither, v2alpha1.ClassificationHigh},
		{"Low Metric", kayentaNear10, kayentaControl20, v2alpha1.DirectionEither, v2alpha1.ClassificationLow},
		{"Directional Test: Increase", kayentaNear10, kayentaControl20, v2alpha1.DirectionIncrease, v2alpha1.ClassificationPass},
		{"Directional Test: Decrease", kayentaNear20, kayentaControl10, v2alpha1.DirectionDecrease, v2alpha1.ClassificationPass},
		{"Directional Test: High Metric", kayentaNear20, kayentaControl10, v2alpha1.DirectionIncrease, v2alpha1.ClassificationHigh},
		{"Directional Test: Low Metric", kayentaNear10, kayentaControl20, v2alpha1.DirectionDecrease, v2alpha1.ClassificationLow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify("m", tc.control, tc.experiment, v2alpha1.Comparison{Metric: "m", Direction: tc.direction})
			if got.Classification != tc.want {
				t.Errorf("classification = %s, want %s (%s)", got.Classification, tc.want, got.Reason)
			}
		})
	}
}

// TestScoreKayentaCases runs the cases of Kayenta's ScorerSuite. Kayenta weighs groups;
// here each comparison has a weight, so its group cases are written with the per-metric
// weights that give the same sums (group weight shared by the group's metrics).
func TestScoreKayentaCases(t *testing.T) {
	pass, high, low, nodata := v2alpha1.ClassificationPass, v2alpha1.ClassificationHigh, v2alpha1.ClassificationLow, v2alpha1.ClassificationNoData
	type m struct {
		c        v2alpha1.Classification
		critical bool
		dryRun   bool
		weight   float64
	}
	for _, tc := range []struct {
		name    string
		metrics []m
		want    float64
	}{
		{"Single Metric Pass", []m{{c: pass}}, 100},
		{"Single Metric Fail", []m{{c: high}}, 0},
		{"One Group, Two Metrics", []m{{c: pass}, {c: high}}, 50},
		{"One Group, Three Metrics", []m{{c: pass}, {c: high}, {c: low}}, 100.0 / 3},
		{"Two Groups, Three Metrics", []m{{c: pass, weight: 37.5}, {c: pass, weight: 37.5}, {c: high, weight: 25}}, 75},
		{"Two Groups, Three Metrics (Equal Weight)", []m{{c: pass, weight: 25}, {c: high, weight: 25}, {c: high, weight: 50}}, 25},
		{"No Data", []m{{c: nodata}}, 0},
		{"one good (normal), one fail (critical)", []m{{c: pass}, {c: high, critical: true}}, 0},
		{"one low (normal), one good (critical)", []m{{c: low}, {c: pass, critical: true}}, 50},
		{"one good (normal), one fail (report-only)", []m{{c: pass}, {c: high, dryRun: true}}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var results []v2alpha1.MetricComparison
			var weights []float64
			for _, x := range tc.metrics {
				results = append(results, v2alpha1.MetricComparison{Metric: "m", Classification: x.c, Critical: x.critical, DryRun: x.dryRun, Bad: x.c == high || x.c == low})
				w := x.weight
				if w == 0 {
					w = 1
				}
				weights = append(weights, w)
			}
			score, _, _ := ScoreComparisons(results, weights, 75, 95)
			got := 0.0 // Kayenta scores no data as 0; here the score is absent
			if score != nil {
				got = *score
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("score = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScoreOutcomes(t *testing.T) {
	pass := v2alpha1.MetricComparison{Metric: "a", Classification: v2alpha1.ClassificationPass}
	high := v2alpha1.MetricComparison{Metric: "b", Classification: v2alpha1.ClassificationHigh, Bad: true}
	nodata := v2alpha1.MetricComparison{Metric: "c", Classification: v2alpha1.ClassificationNoData}
	crit := func(r v2alpha1.MetricComparison) v2alpha1.MetricComparison { r.Critical = true; return r }
	for _, tc := range []struct {
		name    string
		results []v2alpha1.MetricComparison
		weights []float64
		want    v2alpha1.JudgementOutcome
		wantWhy string
		noScore bool
	}{
		{name: "all pass", results: []v2alpha1.MetricComparison{pass}, want: v2alpha1.JudgementPass, wantWhy: "score 100"},
		{name: "below marginal", results: []v2alpha1.MetricComparison{pass, high}, want: v2alpha1.JudgementFail, wantWhy: "score 50 is below the marginal 75"},
		{name: "between", results: []v2alpha1.MetricComparison{pass, high}, weights: []float64{4, 1}, want: v2alpha1.JudgementMarginal, wantWhy: "score 80 is below the pass 95"},
		{name: "critical bad fails whatever the score", results: []v2alpha1.MetricComparison{pass, crit(high)}, weights: []float64{100, 1}, want: v2alpha1.JudgementFail, wantWhy: "critical comparison b failed"},
		{name: "critical without data cannot pass", results: []v2alpha1.MetricComparison{pass, crit(nodata)}, want: v2alpha1.JudgementMarginal, wantWhy: "score 100, but critical comparison c has no data"},
		{name: "no data at all", results: []v2alpha1.MetricComparison{nodata}, want: v2alpha1.JudgementNoData, wantWhy: "no comparison has enough data", noScore: true},
		{name: "nodata does not count", results: []v2alpha1.MetricComparison{pass, nodata}, want: v2alpha1.JudgementPass, wantWhy: "score 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			score, got, why := ScoreComparisons(tc.results, tc.weights, 75, 95)
			if got != tc.want || why != tc.wantWhy {
				t.Errorf("outcome = %s (%q), want %s (%q)", got, why, tc.want, tc.wantWhy)
			}
			if (score == nil) != tc.noScore {
				t.Errorf("score = %v, want absent: %v", score, tc.noScore)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	base := spread(100, 200, 0.1) // median 200
	shifted := spread(100, 224, 0.1)
	for _, tc := range []struct {
		name       string
		baseline   []float64
		candidate  []float64
		cmp        v2alpha1.Comparison
		want       v2alpha1.Classification
		wantReason string
	}{
		{name: "too few samples", baseline: base[:5], candidate: shifted, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease},
			want: v2alpha1.ClassificationNoData, wantReason: "NoData: latency: too few samples (n = 5/100, at least 10 each)"},
		{name: "identical", baseline: base, candidate: base, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease},
			want: v2alpha1.ClassificationPass, wantReason: "Pass: latency: the same samples in both versions (n = 100/100)"},
		{name: "shifted up", baseline: base, candidate: shifted, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease},
			want: v2alpha1.ClassificationHigh, wantReason: "High: latency shifted +12.0 %"},
		{name: "shifted up within the allowed change", baseline: base, candidate: shifted, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease, AllowedIncrease: v2alpha1.ParseNumber("0.15")},
			want: v2alpha1.ClassificationPass, wantReason: "Pass: latency shifted +12.0 %"},
		{name: "shifted up, only decrease is bad", baseline: base, candidate: shifted, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionDecrease},
			want: v2alpha1.ClassificationPass, wantReason: "which is not a bad direction (decrease)"},
		{name: "shifted down", baseline: shifted, candidate: base, cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionEither},
			want: v2alpha1.ClassificationLow, wantReason: "Low: latency shifted -10.7 %"},
		{name: "zero baseline median", baseline: make([]float64, 20), candidate: append(make([]float64, 5), spread(15, 1, 0.1)...), cmp: v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease, AllowedIncrease: v2alpha1.ParseNumber("10")},
			want: v2alpha1.ClassificationHigh, wantReason: "High: latency shifted +0.9567 (95 % CI +0.8718 … +1.017, p < 0.001, n = 20/20), from a baseline median of 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmp.Metric = "latency"
			got := Classify("latency", tc.baseline, tc.candidate, tc.cmp)
			if got.Classification != tc.want || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("Classify = %s (%q), want %s containing %q", got.Classification, got.Reason, tc.want, tc.wantReason)
			}
		})
	}
}

// TestClassifyReasonSaysWhy: the one line of the issue, with the interval and the sizes.
func TestClassifyReasonSaysWhy(t *testing.T) {
	got := Classify("latency", spread(480, 200, 0.1), spread(480, 224, 0.1), v2alpha1.Comparison{Direction: v2alpha1.DirectionIncrease, AllowedIncrease: v2alpha1.ParseNumber("0.05")})
	want := "High: latency shifted +12.0 % (95 % CI +10.6 … +13.4 %, p < 0.001, n = 480/480), more than the allowed +5.0 %"
	if diff := cmp.Diff(want, got.Reason); diff != "" {
		t.Errorf("reason (-want +got):\n%s", diff)
	}
}

// spread is n values around level: level·(1 + sd·z) at evenly spaced normal quantiles.
func spread(n int, level, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		z := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(n)-1)
		out[i] = level * (1 + sd*z)
	}
	return out
}
