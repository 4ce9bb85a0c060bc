package analytics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Alternative is the alternative hypothesis of a rank-sum test about the shift of the
// first sample's location relative to the second's.
type Alternative string

// The alternatives, spelled as R's wilcox.test spells them.
const (
	TwoSided Alternative = "two.sided"
	Greater  Alternative = "greater"
	Less     Alternative = "less"
)

// exactLimit: below it in both samples, and without ties, the p-value and the interval
// come from the exact distribution of U, as R's wilcox.test does by default.
const exactLimit = 50

// RankSumTest is the result of the Mann-Whitney U (Wilcoxon rank-sum) test of x against
// y, with the Hodges-Lehmann estimate of the shift of x relative to y and its confidence
// interval. The conventions are those of R's wilcox.test(x, y, conf.int = TRUE): U is R's
// W (and SciPy's U1), the sum of x's ranks minus nx(nx+1)/2.
type RankSumTest struct {
	U      float64
	PValue float64
	// Exact says the p-value and the interval come from the exact distribution of U;
	// otherwise from the normal approximation with tie and continuity corrections.
	Exact bool
	// Estimate is the median of the pairwise differences x[i]-y[j].
	Estimate float64
	// CILow and CIHigh bound the shift at ConfLevel; one of them is infinite for a
	// one-sided alternative.
	CILow, CIHigh float64
	ConfLevel     float64
	NX, NY        int
}

// MannWhitney tests whether x's location is shifted relative to y's. Both samples must be
// non-empty and finite, and confLevel in (0, 1). When every observation has the same
// value the test is undefined (R stops); MannWhitney reports p = 1 and a zero shift.
func MannWhitney(x, y []float64, alt Alternative, confLevel float64) (RankSumTest, error) {
	switch {
	case len(x) == 0 || len(y) == 0:
		return RankSumTest{}, fmt.Errorf("rank-sum test needs two non-empty samples, got %d and %d values", len(x), len(y))
	case !(confLevel > 0 && confLevel < 1):
		return RankSumTest{}, fmt.Errorf("confidence level %v is not between 0 and 1", confLevel)
	case alt != TwoSided && alt != Greater && alt != Less:
		return RankSumTest{}, fmt.Errorf("unknown alternative %q", alt)
	}
	for _, s := range [][]float64{x, y} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return RankSumTest{}, errors.New("rank-sum test needs finite values")
			}
		}
	}
	nx, ny := len(x), len(y)
	sx := sortedCopy(x)
	sy := sortedCopy(y)
	w, ties := rankSum(sx, sy)
	res := RankSumTest{U: w, ConfLevel: confLevel, NX: nx, NY: ny}
	res.Estimate = medianOfDifferences(sx, sy)

	if sx[0] == sx[nx-1] && sy[0] == sy[ny-1] && sx[0] == sy[0] {
		res.PValue, res.CILow, res.CIHigh = 1, 0, 0
		return res, nil
	}

	alpha := 1 - confLevel
	if nx < exactLimit && ny < exactLimit && ties == 0 {
		res.Exact = true
		dist := newWilcoxDist(nx, ny)
		res.PValue = dist.pValue(w, alt)
		// The interval's ends are order statistics of the pairwise differences (R:
		// diffs[qu] and diffs[nx*ny - qu + 1], 1-based).
		a := alpha
		if alt == TwoSided {
			a = alpha / 2
		}
		qu := dist.quantile(a)
		if qu == 0 {
			qu = 1
		}
		lo := kthDifference(sx, sy, qu)
		hi := kthDifference(sx, sy, nx*ny-qu+1)
		switch alt {
		case TwoSided:
			res.CILow, res.CIHigh = lo, hi
		case Greater:
			res.CILow, res.CIHigh = lo, math.Inf(1)
		case Less:
			res.CILow, res.CIHigh = math.Inf(-1), hi
		}
		return res, nil
	}

	z := normalZ(w, float64(nx), float64(ny), ties, alt)
	switch alt {
	case Less:
		res.PValue = pnorm(z)
	case Greater:
		res.PValue = pnormUpper(z)
	default:
		res.PValue = math.Min(1, 2*math.Min(pnorm(z), pnormUpper(z)))
	}
	switch alt {
	case TwoSided:
		res.CILow = shiftRoot(sx, sy, alt, qnormUpper(alpha/2))
		res.CIHigh = shiftRoot(sx, sy, alt, -qnormUpper(alpha/2))
	case Greater:
		res.CILow, res.CIHigh = shiftRoot(sx, sy, alt, qnormUpper(alpha)), math.Inf(1)
	case Less:
		res.CILow, res.CIHigh = math.Inf(-1), shiftRoot(sx, sy, alt, -qnormUpper(alpha))
	}
	return res, nil
}

// normalZ is the standardized U with the tie correction of its variance and the
// continuity correction toward the null, as R computes it.
func normalZ(w, nx, ny, ties float64, alt Alternative) float64 {
	z := w - nx*ny/2
	sigma := math.Sqrt((nx * ny / 12) * ((nx + ny + 1) - ties/((nx+ny)*(nx+ny-1))))
	var corr float64
	switch alt {
	case TwoSided:
		corr = 0.5 * sign(z)
	case Greater:
		corr = 0.5
	case Less:
		corr = -0.5
	}
	return (z - corr) / sigma
}

// shiftRoot inverts the normal approximation: the shift d at which the test of x-d
// against y has the standardized statistic zq. That statistic falls, in steps, as d
// grows, so the root is found by bisection over the ordered float64 values between
// min(x)-max(y) and max(x)-min(y) (R's uniroot, to the last bit instead of to 1e-4).
func shiftRoot(sx, sy []float64, alt Alternative, zq float64) float64 {
	nx, ny := float64(len(sx)), float64(len(sy))
	shifted := make([]float64, len(sx))
	f := func(d float64) float64 {
		for i, v := range sx {
			shifted[i] = v - d
		}
		w, ties := rankSum(shifted, sy)
		return normalZ(w, nx, ny, ties, alt) - zq
	}
	lo := sx[0] - sy[len(sy)-1]
	hi := sx[len(sx)-1] - sy[0]
	if f(lo) <= 0 {
		return lo
	}
	if f(hi) >= 0 {
		return hi
	}
	// Invariant: f(lo) > 0 >= f(hi).
	for {
		mid := midFloat(lo, hi)
		if mid == lo || mid == hi {
			return hi
		}
		if f(mid) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
}

// rankSum returns the sum of the (average) ranks of sx in the pooled sample, minus
// nx(nx+1)/2, and the tie term sum(t^3 - t) over the pooled sample's groups of t equal
// values. Both inputs must be sorted ascending.
func rankSum(sx, sy []float64) (w, ties float64) {
	i, j := 0, 0
	rank := 0 // observations ranked so far
	var sum float64
	for i < len(sx) || j < len(sy) {
		var v float64
		switch {
		case j >= len(sy) || (i < len(sx) && sx[i] < sy[j]):
			v = sx[i]
		default:
			v = sy[j]
		}
		tx, ty := 0, 0
		for i < len(sx) && sx[i] == v {
			i++
			tx++
		}
		for j < len(sy) && sy[j] == v {
			j++
			ty++
		}
		t := tx + ty
		avg := float64(rank) + float64(t+1)/2
		sum += avg * float64(tx)
		if t > 1 {
			ft := float64(t)
			ties += ft*ft*ft - ft
		}
		rank += t
	}
	nx := float64(len(sx))
	return sum - nx*(nx+1)/2, ties
}

// countAtMost is the number of pairs with x[i]-y[j] <= d, for sorted sx and sy.
func countAtMost(sx, sy []float64, d float64) int {
	// For each x (ascending) the y with x-y <= d form a suffix of sy that shrinks.
	n, j := 0, 0
	for _, xv := range sx {
		for j < len(sy) && xv-sy[j] > d {
			j++
		}
		n += len(sy) - j
	}
	return n
}

// kthDifference is the k-th smallest (1-based) of the pairwise differences x[i]-y[j],
// found without forming them: bisection over ordered float64 values on countAtMost.
func kthDifference(sx, sy []float64, k int) float64 {
	lo := sx[0] - sy[len(sy)-1]
	hi := sx[len(sx)-1] - sy[0]
	if countAtMost(sx, sy, lo) >= k {
		return lo
	}
	// Invariant: count(lo) < k <= count(hi).
	for {
		mid := midFloat(lo, hi)
		if mid == lo || mid == hi {
			return hi
		}
		if countAtMost(sx, sy, mid) >= k {
			hi = mid
		} else {
			lo = mid
		}
	}
}

// medianOfDifferences is the Hodges-Lehmann estimate of the shift of x relative to y.
func medianOfDifferences(sx, sy []float64) float64 {
	n := len(sx) * len(sy)
	if n%2 == 1 {
		return kthDifference(sx, sy, n/2+1)
	}
	a, b := kthDifference(sx, sy, n/2), kthDifference(sx, sy, n/2+1)
	return a + (b-a)/2
}

// midFloat is a float64 halfway between a < b in the order of representable values, so
// that bisection ends after at most 64 steps whatever the magnitudes.
func midFloat(a, b float64) float64 {
	ka, kb := orderedBits(a), orderedBits(b)
	// Halve before adding: kb-ka can exceed the int64 range when a < 0 < b.
	return fromOrderedBits(ka/2 + kb/2 + (ka%2+kb%2)/2)
}

func orderedBits(f float64) int64 {
	b := int64(math.Float64bits(f))
	if b < 0 {
		return math.MinInt64 - b
	}
	return b
}

func fromOrderedBits(k int64) float64 {
	if k < 0 {
		k = math.MinInt64 - k
	}
	return math.Float64frombits(uint64(k))
}

func sortedCopy(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// pnorm is the standard normal distribution function, pnormUpper its upper tail, both
// accurate in the far tails, and qnormUpper the upper-tail quantile.
func pnorm(z float64) float64      { return 0.5 * math.Erfc(-z/math.Sqrt2) }
func pnormUpper(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
func qnormUpper(p float64) float64 { return math.Sqrt2 * math.Erfcinv(2*p) }

// wilcoxDist is the exact null distribution of U for sample sizes m and n: counts[u] is
// the number of ways to draw x's ranks so that U = u, out of total = C(m+n, m).
type wilcoxDist struct {
	counts []float64
	total  float64
	m, n   int
}

func newWilcoxDist(m, n int) wilcoxDist {
	// ways[k][s]: k of the first i ranks chosen, their rank sum minus k(k+1)/2 being s;
	// adding rank i+1 as the (k+1)-th chosen adds i-k to s.
	maxU := m * n
	ways := make([][]float64, m+1)
	for k := range ways {
		ways[k] = make([]float64, maxU+1)
	}
	ways[0][0] = 1
	for i := 0; i < m+n; i++ {
		for k := min(i, m-1); k >= 0; k-- {
			step := i - k
			if step > n {
				continue
			}
			src, dst := ways[k], ways[k+1]
			for s := maxU - step; s >= 0; s-- {
				if src[s] != 0 {
					dst[s+step] += src[s]
				}
			}
		}
	}
	var total float64
	for _, c := range ways[m] {
		total += c
	}
	return wilcoxDist{counts: ways[m], total: total, m: m, n: n}
}

// cdf is P(U <= q).
func (d wilcoxDist) cdf(q float64) float64 {
	if q < 0 {
		return 0
	}
	var p float64
	for u := 0; u <= int(math.Floor(q)) && u < len(d.counts); u++ {
		p += d.counts[u]
	}
	return math.Min(1, p/d.total)
}

// upper is P(U > q), summed directly so that small tails keep their precision.
func (d wilcoxDist) upper(q float64) float64 {
	var p float64
	for u := len(d.counts) - 1; u >= 0 && float64(u) > q; u-- {
		p += d.counts[u]
	}
	return math.Min(1, p/d.total)
}

// pValue follows R: for two.sided, twice the smaller tail at the observed U.
func (d wilcoxDist) pValue(w float64, alt Alternative) float64 {
	switch alt {
	case Greater:
		return d.upper(w - 1)
	case Less:
		return d.cdf(w)
	}
	var p float64
	if w > float64(d.m*d.n)/2 {
		p = d.upper(w - 1)
	} else {
		p = d.cdf(w)
	}
	return math.Min(1, 2*p)
}

// quantile is R's qwilcox for p <= 0.5: the smallest q with P(U <= q) >= p, with R's
// allowance of 10 machine epsilons.
func (d wilcoxDist) quantile(p float64) int {
	p -= 10 * 2.220446049250313e-16
	var acc float64
	for q := range d.counts {
		acc += d.counts[q] / d.total
		if acc >= p {
			return q
		}
	}
	return len(d.counts) - 1
}
