package actions

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"words", "kubectl apply -f x.yaml", []string{"kubectl", "apply", "-f", "x.yaml"}},
		{"blanks", " \t a   b\t", []string{"a", "b"}},
		{"empty", "  ", nil},
		{"single quotes keep everything", `echo 'a b $x "c" \n'`, []string{"echo", `a b $x "c" \n`}},
		{"double quotes", `echo "a b" "c \"d\" \\ \$x \` + "`" + `"`, []string{"echo", "a b", `c "d" \ $x ` + "`"}},
		{"other backslash in double quotes stays", `echo "a\nb"`, []string{"echo", `a\nb`}},
		{"backslash outside quotes", `echo a\ b \$x \|`, []string{"echo", "a b", "$x", "|"}},
		{"quotes join a word", `echo a'b c'"d"e`, []string{"echo", "ab cde"}},
		{"empty quotes are a word", `echo '' ""`, []string{"echo", "", ""}},
		{"template with spaces is one word", "kubectl apply -f {{ .promote }}", []string{"kubectl", "apply", "-f", "{{ .promote }}"}},
		{"template inside a word", "helm --set=image={{ .image }}:{{ .tag }}", []string{"helm", "--set=image={{ .image }}:{{ .tag }}"}},
		{"template with quotes and pipes", `echo {{ printf "%s|%s" .a .b }}`, []string{"echo", `{{ printf "%s|%s" .a .b }}`}},
		{"template in double quotes", `echo "x {{ printf "%s" .a }} y"`, []string{"echo", `x {{ printf "%s" .a }} y`}},
		{"line continuation", "kubectl apply \\\n  -f x", []string{"kubectl", "apply", "-f", "x"}},
		{"trailing newline of a YAML block", "kubectl apply -f x\n\n", []string{"kubectl", "apply", "-f", "x"}},
		{"leading blank lines", "\n\nkubectl version\n", []string{"kubectl", "version"}},
		{"comment", "kubectl version # the client\n# more\n", []string{"kubectl", "version"}},
		{"hash inside a word", "echo a#b", []string{"echo", "a#b"}},
		{"shell characters quoted", `echo '|' ";" '$(id)' "&&"`, []string{"echo", "|", ";", "$(id)", "&&"}},
		{"utf-8", "echo héllo 'wörld'", []string{"echo", "héllo", "wörld"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitWords(tc.line)
			if err != nil {
				t.Fatalf("splitWords(%q): %v", tc.line, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("splitWords(%q) (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

func TestSplitWordsErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"pipe", "kubectl get pods | grep x", `unquoted '|' at offset 17`},
		{"list", "a; b", `unquoted ';'`},
		{"and", "a && b", `unquoted '&'`},
		{"redirection", "echo x > f", `unquoted '>'`},
		{"input", "cat < f", `unquoted '<'`},
		{"substitution", "echo $(id)", `unquoted '$'`},
		{"variable", "echo $HOME", `unquoted '$'`},
		{"backquote", "echo `id`", "unquoted '`'"},
		{"subshell", "(cd x)", `unquoted '('`},
		{"variable in double quotes", `echo "$HOME"`, `'$' in double quotes`},
		{"backquote in double quotes", "echo \"`id`\"", "'`' in double quotes"},
		{"unterminated single quote", "echo 'abc", "unterminated single quote at offset 5"},
		{"unterminated double quote", `echo "abc`, "unterminated double quote at offset 5"},
		{"unterminated template", "echo {{ .a", "unterminated {{ at offset 5"},
		{"trailing backslash", `echo a\`, "trailing backslash"},
		{"two commands", "git clone x\nkubectl apply -f y\n", "a second command at offset 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitWords(tc.line)
			if err == nil {
				t.Fatalf("splitWords(%q) = %q, want an error containing %q", tc.line, got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("splitWords(%q) error = %q, want it to contain %q", tc.line, err, tc.want)
			}
		})
	}
}

// quoteWord quotes a word for a POSIX shell, the way a user would write it literally.
func quoteWord(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// FuzzSplitWords checks that splitting never panics, and that words quoted the way a shell
// user quotes them come back unchanged: what the user sees is what is executed.
func FuzzSplitWords(f *testing.F) {
	for _, seed := range []string{"kubectl apply -f x", `a 'b c' "d\"e"`, "{{ .a }}", "x\\\ny", "a # c\n", "; rm -rf /", "$(id)", "a\nb"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		splitWords(line) // must not panic, whatever it returns
		// Round trip through quoting, for words a template does not consume.
		var quoted []string
		parts := strings.Fields(line)
		for _, p := range parts {
			if strings.Contains(p, "{{") || strings.Contains(p, "}}") {
				return
			}
			quoted = append(quoted, quoteWord(p))
		}
		got, err := splitWords(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("splitWords of quoted words %q: %v", quoted, err)
		}
		if len(parts) == 0 {
			parts = nil
		}
		if diff := cmp.Diff(parts, got); diff != "" {
			t.Errorf("quoted words %q split to (-want +got):\n%s", quoted, diff)
		}
	})
}
