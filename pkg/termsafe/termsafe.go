// Package termsafe makes text safe to print to a terminal or a log: names and messages
// come from Experiments, Metrics and backends that anyone who may create them controls,
// and a BEL, an ESC sequence or a right-to-left override (U+202E) printed raw would ring,
// recolour, move the cursor or reverse what a reader sees.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that is not printable written as a Go escape
// (\a, \x1b, \u202e, ...) and every byte that is not UTF-8 as \xNN. Line breaks and tabs
// are kept: callers print multi-line text through it.
func Escape(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := fmt.Sprintf("%+q", string(r))
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Writer escapes, with Escape, everything written to W. It is meant for line-oriented
// human-readable output (logs, progress, error lines), never for data such as YAML or
// JSON, which have escapes of their own.
type Writer struct {
	W io.Writer
}

// Write writes p escaped. It reports len(p) on success, as the caller's bytes were all
// consumed, whatever length their escaped form has.
func (w Writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.W, Escape(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
