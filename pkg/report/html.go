package report

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/iter8-tools/iter8-tekton/pkg/apis/iter8/v2alpha1"
	"github.com/iter8-tools/iter8-tekton/pkg/describe"
)

// HTML renders the report as one self-contained page: inline CSS and SVG, no script, and
// a Content-Security-Policy that forbids fetching anything.
func HTML(exp *v2alpha1.Experiment) ([]byte, error) {
	f := gather(exp)
	p := page{
		Title:     f.title(),
		Outcome:   f.outcome,
		Final:     f.completed,
		Why:       f.why,
		S:         f.s,
		Winner:    f.winnerText(),
		RecLabel:  f.recommendedLabel(),
		Explained: f.s.WinnerExplanation(),
	}
	if exp.Status.LastUpdateTime != nil {
		p.AsOf = exp.Status.LastUpdateTime.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	for _, o := range f.s.Objectives {
		r := verdictRow{Objective: o.Objective, Rollback: o.RollbackOnFailure}
		for _, v := range o.Verdicts {
			mark, value := verdictCell(v)
			r.Cells = append(r.Cells, verdictCellView{Mark: mark, Value: value, Reason: v.Reason})
		}
		p.Verdicts = append(p.Verdicts, r)
	}
	for _, r := range f.s.Rewards {
		row := valueRow{Label: bareName(r.Metric) + " (" + direction(r.PreferredDirection) + ")"}
		for _, v := range r.Values {
			text := v.Text()
			if containsString(r.Best, v.Version) {
				text += " *"
			}
			row.Cells = append(row.Cells, text)
		}
		p.Rewards = append(p.Rewards, row)
	}
	for _, m := range f.s.Metrics {
		row := valueRow{Label: m.Name}
		if m.Units != "" {
			row.Label += " (" + m.Units + ")"
		}
		for _, v := range m.Values {
			row.Cells = append(row.Cells, v.Text())
		}
		p.Latest = append(p.Latest, row)
	}
	for _, c := range charts(exp, f.s) {
		title := c.name
		if c.units != "" {
			title += " (" + c.units + ")"
		}
		p.Charts = append(p.Charts, chartView{Title: title, Ref: c.ref, SVG: template.HTML(metricSVG(c, f.s.CompletedIterations)), LatestOnly: c.latestOnly, Problem: c.problem})
	}
	p.Comparisons = comparisons(f.s)
	p.Weights = template.HTML(weightsSVG(f.s))
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("rendering the report: %w", err)
	}
	return b.Bytes(), nil
}

func direction(d string) string {
	if d == string(v2alpha1.PreferredDirectionLow) {
		return "lower better"
	}
	return "higher better"
}

type page struct {
	Title, Outcome, AsOf, Winner, RecLabel string
	Final                                  bool
	Why, Explained                         []string
	S                                      *describe.Summary
	Verdicts                               []verdictRow
	Rewards, Latest                        []valueRow
	Charts                                 []chartView
	Comparisons                            []comparisonView
	// SVG of the metrics and weights, built by this package with every text escaped.
	Weights template.HTML
}

type verdictRow struct {
	Objective string
	Rollback  bool
	Cells     []verdictCellView
}

type verdictCellView struct{ Mark, Value, Reason string }

type valueRow struct {
	Label string
	Cells []string
}

type chartView struct {
	Title, Ref, Problem string
	LatestOnly          bool
	SVG                 template.HTML
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="iter8ctl report">
<title>iter8 experiment {{.Title}}: {{.Outcome}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 2rem auto; max-width: 960px; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: 0.25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 0.3rem; }
.outcome { display: inline-block; padding: 0.2rem 0.7rem; border-radius: 1rem; font-weight: 600; background: #eee; }
.outcome-Succeeded { background: #d7f5dd; color: #0a5c1a; }
.outcome-NoWinner { background: #fff1c2; color: #6b4e00; }
.outcome-RolledBack, .outcome-Failed { background: #fbd5d5; color: #8a1010; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.true { background: #e9f8ec; }
td.false { background: #fde8e8; }
td.unavailable { background: #f4f4f4; color: #666; }
.reason { display: block; font-size: 0.8rem; color: #555; }
ul.why li { margin: 0.2rem 0; }
figure { margin: 1rem 0; }
figcaption { font-weight: 600; margin-bottom: 0.3rem; }
.note { color: #666; font-size: 0.85rem; }
svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
footer { margin-top: 2rem; color: #777; font-size: 0.8rem; }
</style>
</head>
<body>
<header>
<h1>Experiment {{.Title}}</h1>
<p><span class="outcome outcome-{{.Outcome}}" id="outcome">{{.Outcome}}</span>{{if not .Final}} <span class="note">(not completed: the outcome is not final)</span>{{end}}</p>
</header>

<section id="summary">
<h2>Summary</h2>
<dl class="facts">
<dt>Target</dt><dd>{{.S.Target}}</dd>
<dt>Testing pattern</dt><dd>{{.S.TestingPattern}}</dd>
<dt>Deployment pattern</dt><dd>{{.S.DeploymentPattern}}</dd>
<dt>Stage</dt><dd>{{if .S.Stage}}{{.S.Stage}}{{else}}not started{{end}}</dd>
<dt>Completed iterations</dt><dd>{{.S.CompletedIterations}} of {{.S.TotalIterations}}</dd>
<dt>Versions</dt><dd>{{range $i, $v := .S.Versions}}{{if $i}}, {{end}}{{$v}}{{end}}</dd>
<dt>Winning version</dt><dd id="winner">{{.Winner}}</dd>
{{- if .S.RecommendedVersion}}
<dt>{{.RecLabel}}</dt><dd id="recommended">{{.S.RecommendedVersion}}</dd>
{{- end}}
{{- if .S.RolledBack}}
<dt>Rolled back</dt><dd>{{range $i, $v := .S.RolledBack}}{{if $i}}, {{end}}{{$v}}{{end}}</dd>
{{- end}}
{{- if .S.Message}}
<dt>Message</dt><dd>{{.S.Message}}</dd>
{{- end}}
</dl>
</section>
{{- if .Why}}

<section id="why">
<h2>Why</h2>
<ul class="why">
{{- range .Why}}
<li>{{.}}</li>
{{- end}}
</ul>
</section>
{{- end}}
{{- if .Verdicts}}

<section id="verdicts">
<h2>Objectives</h2>
{{- range .Explained}}
<p class="note">{{.}}</p>
{{- end}}
<table class="verdicts">
<thead><tr><th>Objective</th>{{range .S.Versions}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Verdicts}}
<tr><td>{{.Objective}}{{if .Rollback}} <span class="note">(rollback)</span>{{end}}</td>{{range .Cells}}<td class="{{.Mark}}">{{.Mark}} <span class="note">({{.Value}})</span>{{if .Reason}}<span class="reason">{{.Reason}}</span>{{end}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}
{{- if .Rewards}}

<section id="rewards">
<h2>Rewards</h2>
<p class="note">The best version is marked with a *.</p>
<table>
<thead><tr><th>Reward</th>{{range .S.Versions}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rewards}}
<tr><td>{{.Label}}</td>{{range .Cells}}<td class="num">{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}
{{- if .Comparisons}}

<section id="comparisons">
<h2>Comparisons</h2>
<p class="note">Each candidate's samples against the baseline's (Mann-Whitney U test); the shift is the candidate's, relative to the baseline's median.</p>
{{- range .Comparisons}}
<h3>{{.Version}}: {{.Outcome}}, score {{.Score}}</h3>
<ul>
{{- range .Lines}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
</section>
{{- end}}
{{- if .Charts}}

<section id="metrics">
<h2>Metrics over the iterations</h2>
<p class="note">One line per version; dashed red lines are the objectives' limits; marks under a chart are iterations without a value (hollow: no data, square: error).</p>
{{- range .Charts}}
<figure data-metric="{{.Ref}}">
<figcaption>{{.Title}}</figcaption>
{{.SVG}}
{{- if .LatestOnly}}
<p class="note">No history recorded (status.analysis.history): only the latest values are drawn.</p>
{{- end}}
{{- if .Problem}}
<p class="note">History unreadable: {{.Problem}}</p>
{{- end}}
</figure>
{{- end}}
</section>
{{- end}}
{{- if .Weights}}

<section id="weights">
<h2>Traffic</h2>
<p class="note">The weights of the versions from the iteration each change was applied (0: as the experiment found them).</p>
<figure>
{{.Weights}}
</figure>
</section>
{{- end}}
{{- if .Latest}}

<section id="latest">
<h2>Latest values</h2>
<table>
<thead><tr><th>Metric</th>{{range .S.Versions}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Latest}}
<tr><td>{{.Label}}</td>{{range .Cells}}<td class="num">{{.}}</td>{{end}}</tr>
{{- end}}
</tbody>
</table>
</section>
{{- end}}

<footer>Written by iter8ctl report from the Experiment's status{{if .AsOf}} as of {{.AsOf}}{{end}}; the same facts as iter8ctl describe.</footer>
</body>
</html>
`))
