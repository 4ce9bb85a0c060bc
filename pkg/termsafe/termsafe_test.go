package termsafe

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "current", "current"},
		{"lines and tabs are kept", "a\tb\nc", "a\tb\nc"},
		{"bell", "v\a1", `v\a1`},
		{"escape sequence", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"right-to-left override", "abc\u202edef", `abc\u202edef`},
		{"carriage return", "ok\rFAIL", `ok\rFAIL`},
		{"delete", "a\x7fb", `a\x7fb`},
		{"C1 control", "a\u009bb", `a\u009bb`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"printable non-ASCII", "größe µs 延迟", "größe µs 延迟"},
		{"zero width space", "a\u200bb", `a\u200bb`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Escape(tc.in)); diff != "" {
				t.Errorf("Escape(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"current", "\x1b[2J", "\u202e", "\xff", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if Escape(out) != out {
			t.Errorf("Escape(%q) = %q is not stable under Escape", s, out)
		}
		if !utf8.ValidString(out) {
			t.Errorf("Escape(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
				t.Errorf("Escape(%q) = %q still holds %U, which is not printable", s, out, r)
			}
		}
	})
}
