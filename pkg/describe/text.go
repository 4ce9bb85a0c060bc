package describe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/termsafe"
)

// Format is an output format of describe.
type Format string

// The output formats.
const (
	FormatText Format = "text"
	FormatJSON Format = "json"
	FormatYAML Format = "yaml"
)

// Formats are the valid output formats.
var Formats = []Format{FormatText, FormatJSON, FormatYAML}

// Write describes exp to w in the given format.
func Write(w io.Writer, exp *v2alpha1.Experiment, format Format) error {
	s := Summarize(exp)
	switch format {
	case FormatText, "":
		_, err := io.WriteString(w, termsafe.Escape(s.Text()))
		return err
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		// Objectives read "mean-latency <= 50.000"; escaping '<' would only hurt jq users.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("encoding summary as JSON: %w", err)
		}
		return nil
	case FormatYAML:
		b, err := yaml.Marshal(s)
		if err != nil {
			return fmt.Errorf("encoding summary as YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	default:
		return fmt.Errorf("unknown output format %q, want one of %v", format, Formats)
	}
}

// Text is the description iter8ctl describe prints: the sections and tables of the seed
// tutorial, followed, only when something failed or is missing, by the reasons.
func (s *Summary) Text() string {
	var b strings.Builder
	heading := func(title string) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "****** %s ******\n", title)
	}

	heading("Overview")
	fmt.Fprintf(&b, "Experiment name: %s\n", s.Name)
	fmt.Fprintf(&b, "Experiment namespace: %s\n", s.Namespace)
	fmt.Fprintf(&b, "Target: %s\n", s.Target)
	fmt.Fprintf(&b, "Testing pattern: %s\n", s.TestingPattern)
	fmt.Fprintf(&b, "Deployment pattern: %s\n", s.DeploymentPattern)

	heading("Progress Summary")
	if s.Stage != "" {
		fmt.Fprintf(&b, "Experiment stage: %s\n", s.Stage)
	}
	fmt.Fprintf(&b, "Number of completed iterations: %d\n", s.CompletedIterations)

	// Like iter8ctl, the assessments appear once an iteration has completed: before that
	// they hold nothing but placeholders. How the experiment ended is said all the same:
	// one that failed at init or was stopped before its first iteration must say so.
	if s.CompletedIterations <= 0 {
		if ending := s.ending(); len(ending) > 0 {
			heading("Assessment Details")
			for _, d := range ending {
				fmt.Fprintf(&b, "- %s\n", d)
			}
		}
		return b.String()
	}

	if s.WinnerAssessed {
		heading("Winner Assessment")
		for _, line := range s.winnerExplanation() {
			fmt.Fprintf(&b, "> %s\n", line)
		}
		if s.TestingPattern != string(v2alpha1.TestingPatternConformance) {
			fmt.Fprintf(&b, "App versions in this experiment: %s\n", s.Versions)
		}
		if s.WinnerFound && s.Winner != "" {
			fmt.Fprintf(&b, "Winning version: %s\n", s.Winner)
		} else {
			b.WriteString("Winning version: not found\n")
		}
		if s.RecommendedVersion != "" {
			label := "Version recommended for promotion"
			if s.v2alpha1 {
				label = "Recommended baseline"
			}
			fmt.Fprintf(&b, "%s: %s\n", label, s.RecommendedVersion)
		}
	}

	if len(s.Rewards) > 0 {
		heading("Reward Assessment")
		b.WriteString("> Identifies values of reward metrics for each version. The best version is marked with a '*'.\n")
		var rows [][]string
		for _, r := range s.Rewards {
			dir := "higher better"
			if r.PreferredDirection == string(v2alpha1.PreferredDirectionLow) {
				dir = "lower better"
			}
			row := []string{fmt.Sprintf("%s (%s)", bareName(r.Metric), dir)}
			for _, v := range r.Values {
				cell := v.text
				if contains(r.Best, v.Version) {
					cell += " *"
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
		s.table(&b, "Reward", rows)
	}

	if len(s.Objectives) > 0 {
		heading("Objective Assessment")
		var rows [][]string
		for _, o := range s.Objectives {
			row := []string{o.Objective}
			for _, v := range o.Verdicts {
				cell := Unavailable
				if v.Satisfied != nil {
					cell = fmt.Sprint(*v.Satisfied)
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
		s.table(&b, "Objective", rows)
	}

	if len(s.Comparisons) > 0 {
		heading("Comparison Assessment")
		b.WriteString("> Compares each candidate's samples with the baseline's (Mann-Whitney U test); the shift is the candidate's, relative to the baseline's median.\n")
		for _, c := range s.Comparisons {
			score := Unavailable
			if c.Score != nil {
				score = fmt.Sprintf("%.4g", c.Score.Value())
			}
			fmt.Fprintf(&b, "%s: %s, score %s\n", c.Version, c.Outcome, score)
			for _, m := range c.Comparisons {
				label := ""
				if m.DryRun {
					label = " (dry run)"
				}
				fmt.Fprintf(&b, "- %s%s\n", m.Reason, label)
			}
		}
	}

	if len(s.Metrics) > 0 {
		heading("Metrics Assessment")
		var rows [][]string
		for _, m := range s.Metrics {
			label := m.Name
			if m.Units != "" {
				label += " (" + m.Units + ")"
			}
			row := []string{label}
			for _, v := range m.Values {
				row = append(row, v.text)
			}
			rows = append(rows, row)
		}
		s.table(&b, "Metric", rows)
	}

	if len(s.WeightHistory) > 0 {
		heading("Traffic")
		b.WriteString("> The weights of the versions after each iteration that changed them (0: as the experiment found them).\n")
		var rows [][]string
		for _, h := range s.WeightHistory {
			row := []string{fmt.Sprint(h.Iteration)}
			for _, v := range s.Versions {
				cell := "-"
				for _, w := range h.Weights {
					if w.Name == v {
						cell = fmt.Sprint(w.Value)
					}
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
		s.table(&b, "Iteration", rows)
	}

	if details := s.details(); len(details) > 0 {
		heading("Assessment Details")
		for _, d := range details {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	return b.String()
}

func (s *Summary) winnerExplanation() []string {
	switch v2alpha1.TestingPatternType(s.TestingPattern) {
	case v2alpha1.TestingPatternCanary:
		return []string{
			"If the candidate version satisfies the experiment objectives, then it is the winner.",
			"Otherwise, if the baseline version satisfies the experiment objectives, it is the winner.",
			"Otherwise, there is no winner.",
		}
	case v2alpha1.TestingPatternConformance:
		// The seed tutorial (v2alpha1) prints no explanation for Conformance.
		if s.v2alpha1 {
			return nil
		}
		return []string{
			"If the version being validated; i.e., the baseline version, satisfies the experiment objectives, it is the winner.",
			"Otherwise, there is no winner.",
		}
	}
	return nil
}

// table renders rows under the header first + versions in the style of the seed: row lines,
// upper-case centred headers, numbers right-aligned, text left-aligned and wrapped at 30
// characters. See table.go for the layout.
func (s *Summary) table(w io.Writer, first string, rows [][]string) {
	// Upper-casing here rather than by tablewriter keeps '_' and '.' in version names,
	// which its header formatting would turn into spaces.
	// Cells are escaped before the layout, so that the columns' widths are those printed.
	header := []string{termsafe.Escape(strings.ToUpper(first))}
	for _, v := range s.Versions {
		header = append(header, termsafe.Escape(strings.ToUpper(v)))
	}
	for _, row := range rows {
		for i := range row {
			row[i] = termsafe.Escape(row[i])
		}
	}
	// Text writes to a strings.Builder, which never fails, nor does tablewriter on strings.
	_ = renderTable(w, header, rows)
}

// Details are the lines of describe's Assessment Details section: every failed or
// unavailable verdict, every missing or reused value, how the experiment ended when it
// was rolled back or failed, and then the winner assessment's message.
func (s *Summary) Details() []string {
	if s.CompletedIterations <= 0 {
		return s.ending()
	}
	return s.details()
}

// WinnerExplanation is how describe explains the winner of the testing pattern.
func (s *Summary) WinnerExplanation() []string { return s.winnerExplanation() }

// IsV2alpha1 reports whether the experiment is iter8.tools/v2alpha1, whose wording differs
// (Recommended baseline).
func (s *Summary) IsV2alpha1() bool { return s.v2alpha1 }

// details explains every failed or unavailable verdict, every missing or reused value and
// how the experiment ended when it failed; it is empty when everything passed.
func (s *Summary) details() []string {
	var out []string
	for _, o := range s.Objectives {
		for _, v := range o.Verdicts {
			switch {
			case v.Satisfied == nil:
				out = append(out, fmt.Sprintf("%s: %s is unavailable: %s", v.Version, o.Objective, v.Reason))
			case !*v.Satisfied:
				line := fmt.Sprintf("%s fails %s", v.Version, o.Objective)
				if v.Reason != "" {
					line += ": " + v.Reason
				}
				if o.RollbackOnFailure {
					line += " (rollback objective)"
				}
				out = append(out, line)
			}
		}
	}
	seen := map[string]bool{}
	missing := func(name string, values []MetricValue) {
		for _, v := range values {
			if (v.Value != nil && !v.Stale) || seen[name+"\x00"+v.Version] {
				continue
			}
			seen[name+"\x00"+v.Version] = true
			what := "is unavailable"
			if v.Value != nil {
				what = "is " + v.text
			}
			out = append(out, fmt.Sprintf("%s for %s %s: %s", name, v.Version, what, v.Reason))
		}
	}
	for _, r := range s.Rewards {
		missing(bareName(r.Metric), r.Values)
	}
	for _, m := range s.Metrics {
		missing(m.Name, m.Values)
	}
	out = append(out, s.ending()...)
	if len(out) > 0 && s.WinnerMessage != "" {
		out = append(out, "Winner assessment: "+s.WinnerMessage)
	}
	return out
}

// ending says how the experiment ended when it was rolled back or failed; it is empty
// otherwise.
func (s *Summary) ending() []string {
	var out []string
	if len(s.RolledBack) > 0 {
		out = append(out, fmt.Sprintf("Rolled back: %s", strings.Join(s.RolledBack, ", ")))
	}
	for _, c := range s.Conditions {
		if c.Type == string(v2alpha1.ConditionFailed) && c.Status == "True" {
			out = append(out, fmt.Sprintf("Experiment failed: %s: %s", c.Reason, c.Message))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
