package analytics

import (
	"math/big"
	"strconv"
)

// Numbers are printed with 3 decimals, rounded to the nearest (half away from zero), and
// with more decimals where 3 would show two different numbers alike. iter8ctl rounded
// up, which printed 123.188035 as 123.189 and 0.0100001 as 0.011, above a limit of 0.010
// that the value did not cross by that much (issue 12).

// DefaultDecimals is the precision of every number describe and the reasons print.
const DefaultDecimals = 3

// maxDecimals bounds the digits spent on telling two numbers apart; beyond it the shortest
// exact representation is printed.
const maxDecimals = 9

// RoundRat writes r rounded to prec decimals, half away from zero, without the sign of a
// value that rounds to zero.
func RoundRat(r *big.Rat, prec int) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(scale))
	neg := scaled.Sign() < 0
	num := new(big.Int).Abs(scaled.Num())
	// round(|x|) = floor((2|num| + den) / 2den)
	twice := new(big.Int).Add(new(big.Int).Lsh(num, 1), scaled.Denom())
	q := new(big.Int).Quo(twice, new(big.Int).Lsh(scaled.Denom(), 1))
	digits := q.String()
	for len(digits) <= prec {
		digits = "0" + digits
	}
	out := digits
	if prec > 0 {
		out = digits[:len(digits)-prec] + "." + digits[len(digits)-prec:]
	}
	if neg && q.Sign() != 0 {
		out = "-" + out
	}
	return out
}

// RoundFloat writes f rounded to prec decimals. It rounds the shortest decimal text of f
// exactly, so that 0.8795 is 0.880 and not 0.879 through float error.
func RoundFloat(f float64, prec int) string {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'f', -1, 64))
	if !ok { // NaN and the infinities
		return strconv.FormatFloat(f, 'f', prec, 64)
	}
	return RoundRat(r, prec)
}

// FormatNumbers writes vals with DefaultDecimals, or with as many more as it takes for
// different numbers to have different texts, so that a value and its limit never look
// equal ("50.000 > 50.000") nor cross each other.
func FormatNumbers(vals ...float64) []string {
	out := make([]string, len(vals))
	for prec := DefaultDecimals; prec <= maxDecimals; prec++ {
		for i, v := range vals {
			out[i] = RoundFloat(v, prec)
		}
		if distinct(vals, out) {
			return out
		}
	}
	for i, v := range vals {
		out[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return out
}

// distinct reports whether different numbers have different texts.
func distinct(vals []float64, texts []string) bool {
	for i := range vals {
		for j := i + 1; j < len(vals); j++ {
			if vals[i] != vals[j] && texts[i] == texts[j] {
				return false
			}
		}
	}
	return true
}
