package analytics

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// ExplorationPercent is the share of traffic spread evenly over all versions, so that every
// version keeps receiving some traffic and its metrics stay observable.
const ExplorationPercent = 10

// Weights recommends integer traffic weights, in percent, for versions (baseline first) as
// iter8-analytics v2 does, but deterministically:
//
//  1. exploration: ExplorationPercent is spread evenly over all versions;
//  2. exploitation: the rest is split evenly over best (names not in versions are ignored;
//     if none is left the baseline gets it);
//  3. each candidate is held at min(its mix, its old weight + maxIncrement, maxWeight) and
//     what it gives up goes to the baseline. Old weights are current matched by name, a
//     version absent from current having 0 (the default distribution is [100, 0, ...]);
//  4. the exact (rational) weights are rounded by largest remainder, ties going to the
//     earlier version, so the total is exactly 100 and no candidate exceeds its cap.
//
// Old weights, maxWeight and maxIncrement are clamped to [0, 100]. The arithmetic is exact
// integer arithmetic, so the result is the same on every platform. It returns nil for no
// versions. With the defaults (100, 10) a winning canary goes 10, 20, ..., 90, 95, 95, ...
// and a losing one gets 5.
func Weights(versions, best []string, current []v2alpha1.WeightData, maxWeight, maxIncrement int32) []v2alpha1.WeightData {
	w, _ := weights(versions, best, current, maxWeight, maxIncrement)
	return w
}

// weights is Weights with a message that explains which constraints held candidates back.
func weights(versions, best []string, current []v2alpha1.WeightData, maxWeight, maxIncrement int32) ([]v2alpha1.WeightData, string) {
	n := int64(len(versions))
	if n == 0 {
		return nil, "no versions"
	}
	maxW, maxInc := int64(clampPercent(maxWeight)), int64(clampPercent(maxIncrement))

	isBest := map[string]bool{}
	for _, b := range best {
		isBest[b] = true
	}
	var nb int64
	var exploit []string
	for _, v := range versions {
		if isBest[v] {
			nb++
			exploit = append(exploit, v)
		}
	}
	if nb == 0 {
		isBest = map[string]bool{versions[0]: true}
		nb = 1
		exploit = []string{versions[0] + " (baseline, no best version)"}
	}

	old := map[string]int64{}
	for _, c := range current {
		old[c.Name] = int64(clampPercent(c.Value))
	}

	// Weights are numerators over den = n*nb: exploration 10/n and exploitation 90/nb
	// are then integers, and so is every sum and cap below.
	den := n * nb
	num := make([]int64, n)
	for i, v := range versions {
		num[i] = ExplorationPercent * nb
		if isBest[v] {
			num[i] += (100 - ExplorationPercent) * n
		}
	}
	caps := make([]int64, n) // integer percent caps of candidates
	var held []string
	for i := 1; i < len(versions); i++ {
		v := versions[i]
		caps[i] = min(old[v]+maxInc, maxW)
		if num[i] > caps[i]*den {
			excess := num[i] - caps[i]*den
			num[i] -= excess
			num[0] += excess
			if old[v]+maxInc <= maxW {
				held = append(held, fmt.Sprintf("%s held at %d (old weight %d + maxCandidateWeightIncrement %d)", v, caps[i], old[v], maxInc))
			} else {
				held = append(held, fmt.Sprintf("%s held at %d (maxCandidateWeight)", v, caps[i]))
			}
		}
	}

	out := roundLargestRemainder(versions, num, den)
	// Rounding up a value that is at most an integer cap cannot pass the cap; this guard
	// keeps the promise should the arithmetic above ever change.
	for i := 1; i < len(out); i++ {
		if extra := int64(out[i].Value) - caps[i]; extra > 0 {
			out[i].Value -= int32(extra)
			out[0].Value += int32(extra)
		}
	}

	msg := "exploitation traffic to " + strings.Join(exploit, ", ")
	if len(held) > 0 {
		msg += "; " + strings.Join(held, "; ")
	}
	return out, msg
}

// roundLargestRemainder rounds num[i]/den, which add up to 100, to integers that add up to
// 100: every value is rounded down and the shortfall goes one by one to the largest
// remainders, the earlier version first among equal ones.
func roundLargestRemainder(versions []string, num []int64, den int64) []v2alpha1.WeightData {
	out := make([]v2alpha1.WeightData, len(versions))
	order := make([]int, len(versions))
	var total int64
	for i, v := range versions {
		q := num[i] / den
		out[i] = v2alpha1.WeightData{Name: v, Value: int32(q)}
		total += q
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return num[order[a]]%den > num[order[b]]%den })
	for k := int64(0); k < 100-total; k++ {
		out[order[k]].Value++
	}
	return out
}

// clampPercent bounds a percentage to [0, 100].
func clampPercent(p int32) int32 {
	return max(0, min(100, p))
}
