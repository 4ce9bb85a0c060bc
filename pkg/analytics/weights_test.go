package analytics

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// wd builds a weight distribution from name, value pairs.
func wd(pairs ...any) []v2alpha1.WeightData {
	var out []v2alpha1.WeightData
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, v2alpha1.WeightData{Name: pairs[i].(string), Value: int32(pairs[i+1].(int))})
	}
	return out
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("v%d", i+1)
	}
	return out
}

func TestWeights(t *testing.T) {
	two := []string{"v1", "v2"}
	tests := []struct {
		name         string
		versions     []string
		best         []string
		current      []v2alpha1.WeightData
		maxWeight    int32
		maxIncrement int32
		want         []v2alpha1.WeightData
		wantMsg      string
	}{{
		name:     "winning canary, first step from the default distribution",
		versions: two, best: []string{"v2"}, maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 90, "v2", 10),
		wantMsg: "exploitation traffic to v2; v2 held at 10 (old weight 0 + maxCandidateWeightIncrement 10)",
	}, {
		name:     "winning canary, next step",
		versions: two, best: []string{"v2"}, current: wd("v1", 90, "v2", 10), maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 80, "v2", 20),
		wantMsg: "exploitation traffic to v2; v2 held at 20 (old weight 10 + maxCandidateWeightIncrement 10)",
	}, {
		name:     "winning canary reaches the exploration floor of the baseline",
		versions: two, best: []string{"v2"}, current: wd("v1", 10, "v2", 90), maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 5, "v2", 95),
		wantMsg: "exploitation traffic to v2",
	}, {
		name:     "old weights are matched by name, not position",
		versions: two, best: []string{"v2"}, current: wd("v2", 30, "v1", 70, "gone", 0), maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 60, "v2", 40),
		wantMsg: "exploitation traffic to v2; v2 held at 40 (old weight 30 + maxCandidateWeightIncrement 10)",
	}, {
		name:     "maxCandidateWeight caps the candidate",
		versions: two, best: []string{"v2"}, current: wd("v1", 30, "v2", 70), maxWeight: 75, maxIncrement: 10,
		want:    wd("v1", 25, "v2", 75),
		wantMsg: "exploitation traffic to v2; v2 held at 75 (maxCandidateWeight)",
	}, {
		name:     "maxCandidateWeight below the old weight pulls the candidate down",
		versions: two, best: []string{"v2"}, current: wd("v1", 20, "v2", 80), maxWeight: 50, maxIncrement: 10,
		want:    wd("v1", 50, "v2", 50),
		wantMsg: "exploitation traffic to v2; v2 held at 50 (maxCandidateWeight)",
	}, {
		name:     "no increment keeps the candidate where it is",
		versions: two, best: []string{"v2"}, current: wd("v1", 100, "v2", 0), maxWeight: 100, maxIncrement: 0,
		want:    wd("v1", 100, "v2", 0),
		wantMsg: "exploitation traffic to v2; v2 held at 0 (old weight 0 + maxCandidateWeightIncrement 0)",
	}, {
		name:     "unbounded increment jumps to the mix",
		versions: two, best: []string{"v2"}, maxWeight: 100, maxIncrement: 100,
		want:    wd("v1", 5, "v2", 95),
		wantMsg: "exploitation traffic to v2",
	}, {
		name:     "losing canary gets its exploration share",
		versions: two, best: nil, current: wd("v1", 50, "v2", 50), maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 95, "v2", 5),
		wantMsg: "exploitation traffic to v1 (baseline, no best version)",
	}, {
		name:     "baseline as the best version",
		versions: two, best: []string{"v1"}, maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 95, "v2", 5),
		wantMsg: "exploitation traffic to v1",
	}, {
		name:     "unknown and repeated best versions",
		versions: two, best: []string{"v9", "v2", "v2"}, current: wd("v1", 50, "v2", 50), maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 40, "v2", 60),
		wantMsg: "exploitation traffic to v2; v2 held at 60 (old weight 50 + maxCandidateWeightIncrement 10)",
	}, {
		name:     "only unknown best versions fall back to the baseline",
		versions: two, best: []string{"v9"}, maxWeight: 100, maxIncrement: 10,
		want:    wd("v1", 95, "v2", 5),
		wantMsg: "exploitation traffic to v1 (baseline, no best version)",
	}, {
		name:     "A/B/N winner: thirds rounded by largest remainder",
		versions: names(3), best: []string{"v3"}, maxWeight: 100, maxIncrement: 10,
		// exact: 86.67, 3.33, 10
		want:    wd("v1", 87, "v2", 3, "v3", 10),
		wantMsg: "exploitation traffic to v3; v3 held at 10 (old weight 0 + maxCandidateWeightIncrement 10)",
	}, {
		name:     "A/B/N tie: equal remainders go to the earlier version",
		versions: names(3), best: []string{"v3", "v2"}, maxWeight: 100, maxIncrement: 100,
		// exact: 3.33, 48.33, 48.33
		want:    wd("v1", 4, "v2", 48, "v3", 48),
		wantMsg: "exploitation traffic to v2, v3",
	}, {
		name:     "six versions: the shortfall goes to the first four of equal remainders",
		versions: names(6), maxWeight: 100, maxIncrement: 10,
		// exact: 91.67 then 1.67 five times
		want:    wd("v1", 92, "v2", 2, "v3", 2, "v4", 2, "v5", 1, "v6", 1),
		wantMsg: "exploitation traffic to v1 (baseline, no best version)",
	}, {
		name:     "seven versions",
		versions: names(7), maxWeight: 100, maxIncrement: 10,
		// exact: 91.43 then 1.43 six times
		want:    wd("v1", 92, "v2", 2, "v3", 2, "v4", 1, "v5", 1, "v6", 1, "v7", 1),
		wantMsg: "exploitation traffic to v1 (baseline, no best version)",
	}, {
		name:     "a fractional candidate under an integer cap rounds within it",
		versions: names(3), best: []string{"v2"}, current: wd("v1", 95, "v2", 1, "v3", 4), maxWeight: 100, maxIncrement: 2,
		// exact: 93.67, 3, 3.33: v2 held at 3, v3 at its mix
		want:    wd("v1", 94, "v2", 3, "v3", 3),
		wantMsg: "exploitation traffic to v2; v2 held at 3 (old weight 1 + maxCandidateWeightIncrement 2)",
	}, {
		name:     "out-of-range inputs are clamped",
		versions: two, best: []string{"v2"}, current: wd("v1", -50, "v2", 150), maxWeight: 200, maxIncrement: -5,
		want:    wd("v1", 5, "v2", 95),
		wantMsg: "exploitation traffic to v2",
	}, {
		name:     "negative maxCandidateWeight means no candidate traffic",
		versions: two, best: []string{"v2"}, current: wd("v1", 50, "v2", 50), maxWeight: -1, maxIncrement: 10,
		want:    wd("v1", 100, "v2", 0),
		wantMsg: "exploitation traffic to v2; v2 held at 0 (maxCandidateWeight)",
	}, {
		name:     "baseline only",
		versions: []string{"current"}, maxWeight: 100, maxIncrement: 10,
		want:    wd("current", 100),
		wantMsg: "exploitation traffic to current (baseline, no best version)",
	}, {
		name:    "no versions",
		wantMsg: "no versions",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := weights(tc.versions, tc.best, tc.current, tc.maxWeight, tc.maxIncrement)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("weights (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMsg, msg); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, Weights(tc.versions, tc.best, tc.current, tc.maxWeight, tc.maxIncrement)); diff != "" {
				t.Errorf("Weights differs from weights (-weights +Weights):\n%s", diff)
			}
		})
	}
}

// TestWeightsWinningCanarySequence documents how a winning canary moves with the defaults
// (maxCandidateWeight 100, maxCandidateWeightIncrement 10) when each recommendation is
// applied before the next: 10 a step up to 90, then the plateau at 95, where the baseline
// keeps its exploration share until the finish action promotes the candidate.
func TestWeightsWinningCanarySequence(t *testing.T) {
	want := []int32{10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 95, 95}
	var current []v2alpha1.WeightData
	var got []int32
	for range want {
		current = Weights([]string{"baseline", "candidate"}, []string{"candidate"}, current,
			v2alpha1.DefaultMaxCandidateWeight, v2alpha1.DefaultMaxCandidateWeightIncrement)
		got = append(got, current[1].Value)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidate weights (-want +got):\n%s", diff)
	}
}

// TestWeightsLosingCanarySequence shows a candidate that stops winning falling back to its
// exploration share at once: decreases are not rate-limited.
func TestWeightsLosingCanarySequence(t *testing.T) {
	versions := []string{"baseline", "candidate"}
	current := wd("baseline", 40, "candidate", 60)
	got := Weights(versions, []string{"baseline"}, current, 100, 10)
	if diff := cmp.Diff(wd("baseline", 95, "candidate", 5), got); diff != "" {
		t.Errorf("weights (-want +got):\n%s", diff)
	}
}

func FuzzWeights(f *testing.F) {
	f.Add(uint8(2), uint8(2), []byte{100, 0}, int32(100), int32(10))
	f.Add(uint8(3), uint8(6), []byte{}, int32(75), int32(7))
	f.Add(uint8(7), uint8(0), []byte{1, 2, 3, 4, 5, 6, 7}, int32(-3), int32(300))
	f.Add(uint8(5), uint8(31), []byte{255, 0, 17}, int32(33), int32(1))
	f.Fuzz(func(t *testing.T, n, bestMask uint8, old []byte, maxWeight, maxIncrement int32) {
		versions := names(int(n%12) + 1)
		var best []string
		for i, v := range versions {
			if i < 8 && bestMask&(1<<i) != 0 {
				best = append(best, v)
			}
		}
		// Byte b gives old weight b-20, so that invalid (negative, >100) ones occur too.
		var current []v2alpha1.WeightData
		valid := true
		oldOf := map[string]int32{}
		for i, b := range old {
			if i >= len(versions) {
				break
			}
			w := int32(b) - 20
			valid = valid && w >= 0 && w <= 100
			current = append(current, v2alpha1.WeightData{Name: versions[i], Value: w})
			oldOf[versions[i]] = w
		}

		got := Weights(versions, best, current, maxWeight, maxIncrement)
		if len(got) != len(versions) {
			t.Fatalf("got %d weights for %d versions", len(got), len(versions))
		}
		capW, capInc := clampPercent(maxWeight), clampPercent(maxIncrement)
		var sum int32
		for i, w := range got {
			if w.Name != versions[i] {
				t.Errorf("weight %d is for %q, want %q", i, w.Name, versions[i])
			}
			if w.Value < 0 || w.Value > 100 {
				t.Errorf("%s = %d, outside [0, 100]", w.Name, w.Value)
			}
			sum += w.Value
			if i == 0 {
				continue
			}
			if w.Value > capW {
				t.Errorf("%s = %d exceeds maxCandidateWeight %d", w.Name, w.Value, capW)
			}
			if valid && w.Value > oldOf[w.Name]+capInc {
				t.Errorf("%s = %d rose more than %d from %d", w.Name, w.Value, capInc, oldOf[w.Name])
			}
		}
		if sum != 100 {
			t.Errorf("weights %v add up to %d", got, sum)
		}
		if again := Weights(versions, best, current, maxWeight, maxIncrement); !cmp.Equal(got, again) {
			t.Errorf("not deterministic: %v then %v", got, again)
		}
	})
}

func BenchmarkWeights(b *testing.B) {
	versions := names(5)
	current := wd("v1", 60, "v2", 10, "v3", 10, "v4", 10, "v5", 10)
	for b.Loop() {
		Weights(versions, []string{"v3"}, current, 100, 10)
	}
}
