package report

import (
	"fmt"
	"strings"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
)

// Markdown renders the report for a pull-request comment: the outcome and why, the
// verdict table, the rewards and the comparisons. Text from the experiment (names,
// reasons, backends' messages) is escaped so that it cannot add markup, links or HTML.
func Markdown(exp *v2alpha1.Experiment) ([]byte, error) {
	f := gather(exp)
	s := f.s
	var b strings.Builder
	fmt.Fprintf(&b, "### iter8 experiment %s: %s\n\n", md(f.title()), md(f.outcome))
	stage := s.Stage
	if stage == "" {
		stage = "not started"
	}
	fmt.Fprintf(&b, "%s, %s; target %s; stage %s, %d of %d iterations completed.\n\n",
		md(s.TestingPattern), md(s.DeploymentPattern), md(s.Target), md(stage), s.CompletedIterations, s.TotalIterations)
	if !f.completed {
		b.WriteString("The experiment has not completed: the outcome is not final.\n\n")
	}
	fmt.Fprintf(&b, "- Winning version: %s\n", md(f.winnerText()))
	if s.RecommendedVersion != "" {
		fmt.Fprintf(&b, "- %s: %s\n", f.recommendedLabel(), md(s.RecommendedVersion))
	}
	if len(s.RolledBack) > 0 {
		fmt.Fprintf(&b, "- Rolled back: %s\n", md(strings.Join(s.RolledBack, ", ")))
	}
	b.WriteString("\n")
	if len(f.why) > 0 {
		b.WriteString("**Why**\n\n")
		for _, w := range f.why {
			fmt.Fprintf(&b, "- %s\n", md(w))
		}
		b.WriteString("\n")
	}
	if len(s.Objectives) > 0 {
		b.WriteString("| Objective |")
		for _, v := range s.Versions {
			fmt.Fprintf(&b, " %s |", md(v))
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(s.Versions)) + "\n")
		for _, o := range s.Objectives {
			label := md(o.Objective)
			if o.RollbackOnFailure {
				label += " (rollback)"
			}
			fmt.Fprintf(&b, "| %s |", label)
			for _, v := range o.Verdicts {
				mark, value := verdictCell(v)
				icon := "❔"
				switch mark {
				case "true":
					icon = "✅"
				case "false":
					icon = "❌"
				}
				fmt.Fprintf(&b, " %s %s (%s) |", icon, mark, md(value))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(s.Rewards) > 0 {
		b.WriteString("| Reward |")
		for _, v := range s.Versions {
			fmt.Fprintf(&b, " %s |", md(v))
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(s.Versions)) + "\n")
		for _, r := range s.Rewards {
			fmt.Fprintf(&b, "| %s (%s) |", md(bareName(r.Metric)), direction(r.PreferredDirection))
			for _, v := range r.Values {
				cell := md(v.Text())
				if containsString(r.Best, v.Version) {
					cell = "**" + cell + "** (best)"
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if cs := comparisons(s); len(cs) > 0 {
		b.WriteString("**Comparisons** (each candidate's samples against the baseline's)\n\n")
		for _, c := range cs {
			fmt.Fprintf(&b, "- %s: %s, score %s\n", md(c.Version), md(c.Outcome), md(c.Score))
			for _, l := range c.Lines {
				fmt.Fprintf(&b, "  - %s\n", md(l))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("<sub>iter8ctl report: the same facts as iter8ctl describe.</sub>\n")
	return []byte(b.String()), nil
}

// mdEscaper escapes the characters that are markup in GitHub-flavoured Markdown, and
// HTML's, so that text from the experiment stays text; a newline becomes a space, so that
// a reason cannot end a table row or a list item.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `|`, `\|`, `#`, `\#`,
	`~`, `\~`, `!`, `\!`,
	`<`, `&lt;`, `>`, `&gt;`, `&`, `&amp;`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

func md(s string) string { return mdEscaper.Replace(s) }
