package metrics

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

func TestSubstitute(t *testing.T) {
	args := map[string]string{"name": "v1", "elapsedTime": "600", "revision": "sample-app-v1", "_x9": "u", "A": "big"}
	tests := []struct {
		name, tmpl, want string
	}{
		{"plain", "no placeholders", "no placeholders"},
		{"dollar name", "rev='$name'", "rev='v1'"},
		{"braced", "[${elapsedTime}s]", "[600s]"},
		{"adjacent text ends identifier", "$name-x $name.y", "v1-x v1.y"},
		{"identifier runs on", "$namex", "$namex"},
		{"unknown left as is", "$nope ${nope}", "$nope ${nope}"},
		{"escaped dollar", "$$name costs $$5", "$name costs $5"},
		{"lone dollar at end", "5$", "5$"},
		{"dollar before digit", "$1abc", "$1abc"},
		{"unclosed brace", "${name", "${name"},
		{"brace with invalid identifier", "${na-me}", "${na-me}"},
		{"empty braces", "${}", "${}"},
		{"underscore and digits", "$_x9!", "u!"},
		{"case sensitive", "$A $a", "big $a"},
		{"nested looking", "$${name}", "${name}"},
		{"the Knative query", "sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)",
			"sum(increase(revision_app_request_latencies_count{revision_name='sample-app-v1'}[600s])) or on() vector(0)"},
		{"NRQL from the docs", "SELECT average(duration) FROM Sessions WHERE revisionName='${revision}' SINCE ${elapsedTime} seconds ago",
			"SELECT average(duration) FROM Sessions WHERE revisionName='sample-app-v1' SINCE 600 seconds ago"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Substitute(tc.tmpl, args, nil)); diff != "" {
				t.Errorf("Substitute(%q) (-want +got):\n%s", tc.tmpl, diff)
			}
		})
	}
}

func TestSubstituteEscapesValuesOnly(t *testing.T) {
	got := Substitute(`{"q": "a\"$v"}`, map[string]string{"v": `x"y`}, EscapeJSON)
	if diff := cmp.Diff(`{"q": "a\"x\"y"}`, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestArgs(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	exp := &v2alpha1.Experiment{Status: v2alpha1.ExperimentStatus{StartTime: &start}}
	tests := []struct {
		name    string
		exp     *v2alpha1.Experiment
		version v2alpha1.VersionDetail
		now     time.Time
		want    map[string]string
	}{{
		name:    "seed baseline",
		exp:     exp,
		version: v2alpha1.VersionDetail{Name: "current", Variables: []v2alpha1.NamedValue{{Name: "revision", Value: "sample-app-v2"}}},
		now:     start.Add(600*time.Second + 900*time.Millisecond),
		want:    map[string]string{"name": "current", "revision": "sample-app-v2", "elapsedTime": "600", "interval": "600s"},
	}, {
		name:    "revision defaults to the name; at least one second",
		exp:     exp,
		version: v2alpha1.VersionDetail{Name: "sample-app-v1", Variables: []v2alpha1.NamedValue{{Name: "namespace", Value: "default"}}},
		now:     start.Add(200 * time.Millisecond),
		want:    map[string]string{"name": "sample-app-v1", "revision": "sample-app-v1", "namespace": "default", "elapsedTime": "1", "interval": "1s"},
	}, {
		name:    "not started",
		exp:     &v2alpha1.Experiment{},
		version: v2alpha1.VersionDetail{Name: "v"},
		now:     start.Time,
		want:    map[string]string{"name": "v", "revision": "v", "elapsedTime": "1", "interval": "1s"},
	}, {
		name: "variables override name but not the computed elapsedTime and interval",
		exp:  exp,
		version: v2alpha1.VersionDetail{Name: "v", Variables: []v2alpha1.NamedValue{
			{Name: "name", Value: "other"}, {Name: "elapsedTime", Value: "7"}, {Name: "interval", Value: "5m"},
		}},
		now:  start.Add(30 * time.Second),
		want: map[string]string{"name": "other", "revision": "v", "elapsedTime": "30", "interval": "30s"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Args(tc.exp, tc.version, tc.now)); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
		})
	}
}

// hostileValues are version variables written to break out of a quoted PromQL string.
var hostileValues = []string{
	`x'} or vector(1) or {a='`,
	`x"} or vector(1) or {a="`,
	`x\'} or vector(1) #`,
	`x\\'`,
	"x\n} or vector(1)",
	"x`} or vector(1)",
	`\`,
	`\x27`,
	"\x00\x7f\r\t",
	"caf\xc3\xa9 \xff\xfe",
	"\u2028",
	`'`,
	`"`,
	"",
}

func TestEscapePromQLKeepsTheShape(t *testing.T) {
	templates := []string{
		`sum(increase(revision_app_request_latencies_count{revision_name='$revision'}[${elapsedTime}s])) or on() vector(0)`,
		`sum(increase(revision_app_request_latencies_count{revision_name="$revision"}[${elapsedTime}s])) or on() vector(0)`,
		`sum(x{a='$revision',b="$revision"})`,
		`label_replace(up, "dst", '$revision', "src", "(.*)")`,
	}
	for _, tmpl := range templates {
		wantShape, _, err := lexPromQL(Substitute(tmpl, map[string]string{"revision": "plain", "elapsedTime": "60"}, EscapePromQL))
		if err != nil {
			t.Fatalf("template %q: %v", tmpl, err)
		}
		for _, v := range hostileValues {
			q := Substitute(tmpl, map[string]string{"revision": v, "elapsedTime": "60"}, EscapePromQL)
			shape, strs, err := lexPromQL(q)
			if err != nil {
				t.Errorf("value %q: query %q does not lex: %v", v, q, err)
				continue
			}
			if diff := cmp.Diff(wantShape, shape); diff != "" {
				t.Errorf("value %q changed the shape of %q (-want +got):\n%s", v, q, diff)
			}
			for _, s := range strs {
				if s != v && s != "dst" && s != "src" && s != "(.*)" {
					t.Errorf("value %q: a string of %q decodes to %q, want the value", v, q, s)
				}
			}
		}
	}
}

func TestEscapePromQLUnescaped(t *testing.T) {
	// Without escaping the same values do change the shape: the test above can fail.
	tmpl := `x{a='$v'}`
	want, _, _ := lexPromQL(`x{a='plain'}`)
	shape, _, err := lexPromQL(Substitute(tmpl, map[string]string{"v": hostileValues[0]}, nil))
	if err == nil && cmp.Equal(want, shape) {
		t.Errorf("an unescaped hostile value kept the shape; the shape test proves nothing")
	}
}

// lexPromQL splits a query into its shape (the text outside string literals, with each
// literal replaced by a marker) and the decoded literals, following the PromQL lexer:
// in '...' and "..." a backslash escapes a, b, f, n, r, t, v, backslash, the opening quote
// only, x with 2 hex digits, u with 4, U with 8, or 3 octal digits; `...` has no escapes;
// a newline cannot occur in a quoted string.
func lexPromQL(q string) (string, []string, error) {
	var shape strings.Builder
	var strs []string
	for i := 0; i < len(q); {
		c := q[i]
		if c != '\'' && c != '"' && c != '`' {
			shape.WriteByte(c)
			i++
			continue
		}
		quote := c
		var lit []byte
		i++
		for {
			if i >= len(q) {
				return "", nil, fmt.Errorf("unterminated string")
			}
			c := q[i]
			if c == quote {
				i++
				break
			}
			if quote == '`' {
				lit = append(lit, c)
				i++
				continue
			}
			if c == '\n' {
				return "", nil, fmt.Errorf("newline in string")
			}
			if c != '\\' {
				lit = append(lit, c)
				i++
				continue
			}
			i++
			if i >= len(q) {
				return "", nil, fmt.Errorf("unterminated escape")
			}
			e := q[i]
			switch {
			case strings.IndexByte("abfnrtv\\", e) >= 0:
				s, _ := strconv.Unquote(`"\` + string(e) + `"`)
				lit = append(lit, s...)
				i++
			case e == quote:
				lit = append(lit, quote)
				i++
			case e == 'x' || e == 'u' || e == 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+1+n > len(q) {
					return "", nil, fmt.Errorf("short escape")
				}
				v, err := strconv.ParseUint(q[i+1:i+1+n], 16, 32)
				if err != nil {
					return "", nil, fmt.Errorf("bad escape %q", q[i:i+1+n])
				}
				if e == 'x' {
					lit = append(lit, byte(v))
				} else {
					lit = utf8.AppendRune(lit, rune(v))
				}
				i += 1 + n
			case e >= '0' && e <= '7':
				if i+3 > len(q) {
					return "", nil, fmt.Errorf("short octal escape")
				}
				v, err := strconv.ParseUint(q[i:i+3], 8, 8)
				if err != nil {
					return "", nil, fmt.Errorf("bad octal escape")
				}
				lit = append(lit, byte(v))
				i += 3
			default:
				return "", nil, fmt.Errorf("unknown escape sequence %q", e)
			}
		}
		shape.WriteString("<str>")
		strs = append(strs, string(lit))
	}
	return shape.String(), strs, nil
}

func TestEscapeJSON(t *testing.T) {
	for _, v := range append(hostileValues, `"}, "admin": true, "x": "`, "</script>") {
		body := Substitute(`{"query": "$v", "n": 1}`, map[string]string{"v": v}, EscapeJSON)
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("value %q: body %q is not JSON: %v", v, body, err)
			continue
		}
		// Each byte that is not UTF-8 becomes U+FFFD, as in a conversion to runes.
		want := map[string]any{"query": string([]rune(v)), "n": 1.0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("value %q: (-want +got):\n%s", v, diff)
		}
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"$name", "${name}", "$$", "${", "$", "a$b${c}$$d", `{revision_name='$revision'}`} {
		f.Add(s, "v'\"\\\n")
	}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		args := map[string]string{"name": value, "revision": value}
		// Without placeholders for known arguments the template comes back with $$ undone.
		got := Substitute(tmpl, args, nil)
		if !strings.Contains(tmpl, "$") && got != tmpl {
			t.Fatalf("Substitute(%q) = %q, want it unchanged", tmpl, got)
		}
		// Substituting a value that has no $ into a template is the same as substituting
		// a marker and replacing the marker afterwards.
		if !strings.Contains(value, "$") && !strings.Contains(tmpl, "\x00") {
			marked := Substitute(tmpl, map[string]string{"name": "\x00", "revision": "\x00"}, nil)
			if want := strings.ReplaceAll(marked, "\x00", value); got != want {
				t.Fatalf("Substitute(%q, %q) = %q, want %q", tmpl, value, got, want)
			}
		}
		// An escaped value always lexes to the value inside a quoted PromQL string.
		q := Substitute(`x{a='$name',b="${name}"}`, args, EscapePromQL)
		shape, strs, err := lexPromQL(q)
		if err != nil {
			t.Fatalf("value %q: %q does not lex: %v", value, q, err)
		}
		if shape != "x{a=<str>,b=<str>}" || len(strs) != 2 || strs[0] != value || strs[1] != value {
			t.Fatalf("value %q: %q lexes to %q %q", value, q, shape, strs)
		}
		// Whatever the value, SubstitutePromQL either refuses it or leaves the query's
		// shape as the template's: the value is a string's content, a number or a duration.
		tq := `rate(x{a='$name'}[$revision]) * ${name}`
		if pq, err := SubstitutePromQL(tq, args); err == nil {
			if !numberOrDuration.MatchString(value) {
				t.Fatalf("value %q: SubstitutePromQL accepted it outside a string: %q", value, pq)
			}
			shape, strs, err := lexPromQL(pq)
			if err != nil || len(strs) != 1 || strs[0] != value || shape != "rate(x{a=<str>}["+value+"]) * "+value {
				t.Fatalf("value %q: %q lexes to %q %q (%v)", value, pq, shape, strs, err)
			}
		}
	})
}

func TestSubstitutePromQL(t *testing.T) {
	args := map[string]string{"revision": `v1'}) or vector(1) or x{a='`, "interval": "600s", "elapsedTime": "600", "n": "1e3", "bq": "plain"}
	tests := []struct {
		name, tmpl, want string
	}{
		{"quoted value escaped", `x{r='$revision'}`, `x{r='v1\x27}) or vector(1) or x{a=\x27'}`},
		{"double quoted", `x{r="${revision}"}`, `x{r="v1\x27}) or vector(1) or x{a=\x27"}`},
		{"duration in a range", `rate(x[$interval])`, `rate(x[600s])`},
		{"number with units after it", `rate(x[${elapsedTime}s])`, `rate(x[600s])`},
		{"number in arithmetic", `x * $n`, `x * 1e3`},
		{"escaped quote keeps the string open", `x{r='a\'$revision'}`, `x{r='a\'v1\x27}) or vector(1) or x{a=\x27'}`},
		{"backquoted without backquote", "x{r=`$bq`}", "x{r=`plain`}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SubstitutePromQL(tc.tmpl, args)
			if err != nil {
				t.Fatalf("SubstitutePromQL(%q): %v", tc.tmpl, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SubstitutePromQL(%q) (-want +got):\n%s", tc.tmpl, diff)
			}
		})
	}
}

func TestSubstitutePromQLErrors(t *testing.T) {
	tests := []struct {
		name, tmpl, value, want string
	}{
		{"injection outside a string", `rate(x[$v])`, `1s])) or vector(1000) or (x[1s`, `argument "v" stands outside a string in the query, so it must be a number or a duration, got "1s])) or vector(1000) or (x[1s"`},
		{"label name position", `x{$v="a"}`, `a="b",c`, `argument "v" stands outside a string in the query, so it must be a number or a duration, got "a=\"b\",c"`},
		{"after a closed string", `x{r='a'} * $v`, `x`, `argument "v" stands outside a string in the query, so it must be a number or a duration, got "x"`},
		{"backquote in a backquoted string", "x{r=`$v`}", "a` or y{b=`", "argument \"v\" (\"a` or y{b=`\") stands in a backquoted string and holds a backquote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SubstitutePromQL(tc.tmpl, map[string]string{"v": tc.value})
			if err == nil {
				t.Fatalf("SubstitutePromQL(%q) = %q, want an error", tc.tmpl, got)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgsComputedWinOverVariables(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	exp := &v2alpha1.Experiment{Status: v2alpha1.ExperimentStatus{StartTime: &start}}
	version := v2alpha1.VersionDetail{Name: "v1", Variables: []v2alpha1.NamedValue{
		{Name: "interval", Value: "1s])) or vector(1000) or (x[1s"},
		{Name: "elapsedTime", Value: "1) or vector(1000"},
	}}
	got := Args(exp, version, start.Add(30*time.Second))
	want := map[string]string{"name": "v1", "revision": "v1", "elapsedTime": "30", "interval": "30s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
}
