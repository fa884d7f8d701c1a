package pipeline

import (
	"math"
	"strconv"
)

// appendFloat appends v as strconv.AppendFloat(b, v, 'g', -1, 64) does, the
// form line protocol and the JSON form write, with a fast path for the
// common case: a value that is a short decimal (at most six digits after
// the point) between 1e-4 and 1e6, written without an exponent.
//
// Why the fast path agrees with strconv: n = round(v·10^k) for the
// smallest k with float64(n)/10^k == v is, by IEEE division's correct
// rounding, a decimal n·10^-k that parses back to v; it has at most 12
// significant digits, and two decimals of at most 15 significant digits
// never parse to the same float64, so it is the shortest decimal that
// does, which is what strconv writes; and 'g' writes a value of that
// magnitude without an exponent. FuzzAppendFloat checks it against strconv.
func appendFloat(b []byte, v float64) []byte {
	a := math.Abs(v)
	if a < 1e-4 || a >= 1e6 { // NaN falls through too: both comparisons are false
		if a == 0 && !math.Signbit(v) {
			return append(b, '0')
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	for k := 0; k <= 6; k++ {
		n := math.Round(a * pow10[k])
		if n/pow10[k] != a {
			continue
		}
		if v < 0 {
			b = append(b, '-')
		}
		u := uint64(n)
		if k == 0 {
			return strconv.AppendUint(b, u, 10)
		}
		ip, fp := u/uint64(pow10[k]), u%uint64(pow10[k])
		b = strconv.AppendUint(b, ip, 10)
		b = append(b, '.')
		// The fraction's k digits, leading zeros included.
		var digits [6]byte
		for i := k - 1; i >= 0; i-- {
			digits[i] = byte('0' + fp%10)
			fp /= 10
		}
		return append(b, digits[:k]...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}
