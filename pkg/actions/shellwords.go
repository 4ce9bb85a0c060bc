package actions

import (
	"fmt"
	"strings"
)

// splitWords splits a command line into words the way a POSIX shell does, without
// expanding anything: blanks separate words; single quotes keep everything literal; in
// double quotes a backslash escapes ", \, $, ` and newline; outside quotes a backslash
// escapes any character and backslash-newline joins lines; # at the start of a word starts
// a comment. A Go template action {{ ... }} is copied whole, spaces and quotes included,
// so that it is rendered later into the one word it belongs to.
//
// What a shell would interpret (| & ; < > ( ) $ `, and a second command on another line)
// is an error rather than a literal word: the words are executed without a shell, and a
// user who wrote a pipe expects a pipe.
func splitWords(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		// ended is set by an unquoted newline after a word: another word is a second
		// command.
		ended bool
	)
	emit := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	// copyTemplate copies the template action starting at i and returns the index after it.
	copyTemplate := func(i int) (int, error) {
		end := strings.Index(s[i+2:], "}}")
		if end < 0 {
			return 0, fmt.Errorf("unterminated {{ at offset %d", i)
		}
		cur.WriteString(s[i : i+2+end+2])
		return i + 2 + end + 2, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		if ended && !isBlank(c) && c != '#' {
			return nil, fmt.Errorf("a second command at offset %d: run takes one command line (a shell would run each line; use one task per command)", i)
		}
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			var err error
			if i, err = copyTemplate(i); err != nil {
				return nil, err
			}
			inWord = true
		case c == '\n':
			if inWord || len(words) > 0 {
				ended = true
			}
			emit()
			i++
		case isBlank(c):
			emit()
			i++
		case c == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at offset %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 2
			inWord = true
		case c == '"':
			start := i
			i++
			inWord = true
		quoted:
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated double quote at offset %d", start)
				}
				if strings.HasPrefix(s[i:], "{{") {
					var err error
					if i, err = copyTemplate(i); err != nil {
						return nil, err
					}
					continue
				}
				switch d := s[i]; d {
				case '"':
					i++
					break quoted
				case '\\':
					if i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
						if s[i+1] != '\n' {
							cur.WriteByte(s[i+1])
						}
						i += 2
					} else {
						cur.WriteByte('\\')
						i++
					}
				case '$', '`':
					return nil, fmt.Errorf("%q in double quotes at offset %d: a shell would expand it, and run uses no shell; escape it or use single quotes", d, i)
				default:
					cur.WriteByte(d)
					i++
				}
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash")
			}
			if s[i+1] != '\n' {
				cur.WriteByte(s[i+1])
				inWord = true
			}
			i += 2
		case strings.IndexByte("|&;<>()$`", c) >= 0:
			return nil, fmt.Errorf("unquoted %q at offset %d: run executes its command without a shell (the stage image has none), so pipes, redirections, lists, subshells, $ expansion and command substitution do not work; quote it to pass it literally, or use one task per command", c, i)
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	emit()
	return words, nil
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}
