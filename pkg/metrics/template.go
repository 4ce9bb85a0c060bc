package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Args returns the substitution arguments for one version, as iter8-analytics builds them:
// "name" (the version name), every variable of the version (a variable may override
// "name"), "elapsedTime" (whole seconds since status.startTime, at least 1), and the
// v2alpha1 forms "interval" (elapsedTime followed by "s", e.g. "600s") and "revision"
// (the revision variable, else the version name), so that the v2alpha1 metric queries
// keyed on $revision and [$interval] work unchanged.
func Args(exp *v2alpha1.Experiment, version v2alpha1.VersionDetail, now time.Time) map[string]string {
	args := map[string]string{"name": version.Name}
	for _, v := range version.Variables {
		args[v.Name] = v.Value
	}
	elapsed := int64(1)
	if exp != nil && exp.Status.StartTime != nil {
		if s := int64(now.Sub(exp.Status.StartTime.Time) / time.Second); s > 1 {
			elapsed = s
		}
	}
	// The computed arguments win over a variable of the same name: a variable named
	// interval went unescaped into a range selector and so into the query's shape.
	args["elapsedTime"] = strconv.FormatInt(elapsed, 10)
	args["interval"] = strconv.FormatInt(elapsed, 10) + "s"
	if _, ok := args["revision"]; !ok {
		args["revision"] = version.Name
	}
	return args
}

// Substitute replaces $x and ${x} the way Python's string.Template.safe_substitute does,
// since that is what iter8 metric templates were written for: an identifier is an ASCII
// letter or underscore followed by letters, digits and underscores; $$ is a literal $;
// a placeholder without an argument, and a $ that starts no placeholder, are left as
// they are. escape, when not nil, is applied to every substituted value (not to the
// template), so that a value cannot break out of the quoting the template put it in.
func Substitute(tmpl string, args map[string]string, escape func(string) string) string {
	out, _ := substitute(tmpl, args, func(_ int, _, v string) (string, error) { return apply(escape, v), nil })
	return out
}

// SubstitutePromQL substitutes as Substitute does, but by where each placeholder stands
// in the query: inside a single- or double-quoted string the value is escaped with
// EscapePromQL; outside any string it may only be a number or a duration, since there any
// other text would become part of the query's shape; inside a backquoted string, which
// has no escapes, a value with a backquote is refused.
func SubstitutePromQL(tmpl string, args map[string]string) (string, error) {
	quote := promQuotes(tmpl)
	return substitute(tmpl, args, func(at int, name, v string) (string, error) {
		switch quote[at] {
		case '\'', '"':
			return EscapePromQL(v), nil
		case '`':
			if strings.Contains(v, "`") {
				return "", fmt.Errorf("argument %q (%q) stands in a backquoted string and holds a backquote", name, v)
			}
			return v, nil
		}
		if !numberOrDuration.MatchString(v) {
			return "", fmt.Errorf("argument %q stands outside a string in the query, so it must be a number or a duration, got %q", name, v)
		}
		return v, nil
	})
}

// numberOrDuration matches the PromQL number and duration literals a value may be outside
// a string: a decimal number, or units from y down to ms.
var numberOrDuration = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|(?:[0-9]+(?:ms|[smhdwy]))+)$`)

// promQuotes returns, for each byte of tmpl, the quote of the PromQL string it is in, or 0.
func promQuotes(tmpl string) []byte {
	in := make([]byte, len(tmpl))
	var q byte
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		in[i] = q
		switch {
		case q == 0 && (c == '\'' || c == '"' || c == '`'):
			q = c
		case q != 0 && q != '`' && c == '\\' && i+1 < len(tmpl):
			i++
			in[i] = q
		case q != 0 && c == q:
			in[i] = q
			q = 0
		}
	}
	return in
}

func substitute(tmpl string, args map[string]string, value func(at int, name, v string) (string, error)) (string, error) {
	if !strings.Contains(tmpl, "$") {
		return tmpl, nil
	}
	var b strings.Builder
	b.Grow(len(tmpl))
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		if c != '$' || i+1 == len(tmpl) {
			b.WriteByte(c)
			i++
			continue
		}
		next := tmpl[i+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			n := identLen(tmpl[i+2:])
			end := i + 2 + n
			if n == 0 || end >= len(tmpl) || tmpl[end] != '}' {
				b.WriteByte('$')
				i++
				continue
			}
			if v, ok := args[tmpl[i+2:end]]; ok {
				out, err := value(i, tmpl[i+2:end], v)
				if err != nil {
					return "", err
				}
				b.WriteString(out)
			} else {
				b.WriteString(tmpl[i : end+1])
			}
			i = end + 1
		default:
			n := identLen(tmpl[i+1:])
			if n == 0 {
				b.WriteByte('$')
				i++
				continue
			}
			end := i + 1 + n
			if v, ok := args[tmpl[i+1:end]]; ok {
				out, err := value(i, tmpl[i+1:end], v)
				if err != nil {
					return "", err
				}
				b.WriteString(out)
			} else {
				b.WriteString(tmpl[i:end])
			}
			i = end
		}
	}
	return b.String(), nil
}

func apply(escape func(string) string, v string) string {
	if escape == nil {
		return v
	}
	return escape(v)
}

// identLen returns the length of the identifier at the start of s: [_A-Za-z][_A-Za-z0-9]*.
func identLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return i
		}
	}
	return len(s)
}

// EscapePromQL escapes a value so that, substituted inside a single- or double-quoted
// PromQL string, it cannot end the string or change the shape of the query. PromQL
// accepts only the opening quote as an escaped quote (\' inside "..." is a syntax error),
// so both quotes are written as hex escapes, which are valid in either kind of string;
// backslashes, control characters and bytes that are not UTF-8 are escaped too, so the
// string decodes to exactly the value. Values in backquoted strings cannot be escaped, and
// in a regular-expression matcher (=~) the value is still a regular expression.
func EscapePromQL(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\x27`)
		case r == '"':
			b.WriteString(`\x22`)
		case r == '`':
			b.WriteString(`\x60`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == 0x2028 || r == 0x2029:
			// Line separators are harmless to PromQL but not to whoever pastes the query.
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeJSON escapes a value for use inside a JSON string of a body template, so that it
// cannot end the string: the result is the JSON encoding of s without its quotes.
func EscapeJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a string cannot fail; invalid UTF-8 becomes U+FFFD.
	_ = enc.Encode(s)
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// placeholder matches what Substitute substitutes: $$, ${name} or $name.
var placeholder = regexp.MustCompile(`\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// Placeholders returns the names of the placeholders of tmpl, in order, each once.
func Placeholders(tmpl string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
		name := m[1] + m[2]
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// ComputedArgs are the arguments Args gives every version besides its variables.
var ComputedArgs = []string{"name", "elapsedTime", "interval", "revision"}
