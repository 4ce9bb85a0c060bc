package analytics

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// oracleCase is one answer of R's wilcox.test, written by hack/oracle/ranksum.R.
type oracleCase struct {
	Name        string      `json:"name"`
	Alternative Alternative `json:"alternative"`
	ConfLevel   float64     `json:"confLevel"`
	Exact       bool        `json:"exact"`
	U           float64     `json:"u"`
	P           float64     `json:"p"`
	Estimate    float64     `json:"estimate"`
	// CILow and CIHigh are nil where R's interval is infinite (one-sided).
	CILow  *float64  `json:"ciLow"`
	CIHigh *float64  `json:"ciHigh"`
	X      []float64 `json:"x"`
	Y      []float64 `json:"y"`
}

// The tolerances against R:
//   - U, the choice of exact or normal method: equal.
//   - p-value: within 1e-6 relative (R prints 15 digits; its pnorm and Go's Erfc agree
//     to about 1e-14 relative), or 1e-12 absolute.
//   - exact method, estimate and interval: within 1e-9 relative (both pick order
//     statistics of the pairwise differences).
//   - normal method, estimate and interval: R finds them with uniroot(tol = 1e-4) on a
//     step function, so its answer may sit anywhere on the step's flat part. Accepted:
//     within 2e-4 absolute, or with at most one pairwise difference strictly between
//     R's value and ours (the same or the neighbouring step).
const (
	oraclePRel   = 1e-6
	oraclePAbs   = 1e-12
	oracleRel    = 1e-9
	oracleRootAb = 2e-4
)

func TestMannWhitneyAgreesWithR(t *testing.T) {
	raw, err := os.ReadFile("testdata/ranksum_oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []oracleCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatalf("decoding the oracle's answers: %v", err)
	}
	if len(cases) < 50 {
		t.Fatalf("the oracle file holds %d data sets, want at least 50", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name+"/"+string(c.Alternative), func(t *testing.T) {
			got, err := MannWhitney(c.X, c.Y, c.Alternative, c.ConfLevel)
			if err != nil {
				t.Fatalf("MannWhitney: %v", err)
			}
			if got.U != c.U {
				t.Errorf("U = %v, R says %v", got.U, c.U)
			}
			if got.Exact != c.Exact {
				t.Errorf("exact = %v, R says %v", got.Exact, c.Exact)
			}
			if d := math.Abs(got.PValue - c.P); d > oraclePAbs && d > oraclePRel*c.P {
				t.Errorf("p = %.15g, R says %.15g", got.PValue, c.P)
			}
			check := func(what string, got float64, want *float64) {
				t.Helper()
				if want == nil {
					if !math.IsInf(got, 0) {
						t.Errorf("%s = %v, R says infinite", what, got)
					}
					return
				}
				w := *want
				if c.Exact {
					if math.Abs(got-w) > oracleRel*math.Max(1, math.Abs(w)) {
						t.Errorf("%s = %.15g, R says %.15g", what, got, w)
					}
					return
				}
				if math.Abs(got-w) <= oracleRootAb {
					return
				}
				if n := differencesBetween(c.X, c.Y, got, w); n > 1 {
					t.Errorf("%s = %.15g, R says %.15g: %d pairwise differences lie between", what, got, w, n)
				}
			}
			check("estimate", got.Estimate, &c.Estimate)
			check("lower bound", got.CILow, c.CILow)
			check("upper bound", got.CIHigh, c.CIHigh)
		})
	}
}

// differencesBetween counts, by brute force, the x[i]-y[j] strictly between a and b.
func differencesBetween(x, y []float64, a, b float64) int {
	lo, hi := math.Min(a, b), math.Max(a, b)
	n := 0
	for _, xv := range x {
		for _, yv := range y {
			if d := xv - yv; d > lo && d < hi {
				n++
			}
		}
	}
	return n
}
