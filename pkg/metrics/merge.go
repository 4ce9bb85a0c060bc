package metrics

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// A metric's query is one template substituted with each version's arguments, so its
// queries for the versions of an experiment usually differ only in the value of a label
// matcher, revision_name='v1' against revision_name='v2'. Prometheus spends most of an
// iteration evaluating such near-copies one by one; mergeVersions rewrites them into one
// query whose series carry that label, so that one evaluation answers every version and
// each version's answer is read off the series with its value.
//
// The rewrite is made on the parsed queries (Prometheus' own parser) and only where it is
// equivalent by construction. The versions' queries must parse to the same tree but for
// the values of equality matchers; L are the labels of the matchers whose values differ,
// and k_v version v's values of them. Every expression E of the query is rewritten into
// E' such that the series of E' whose labels L are k_v are exactly the series of E for
// version v with the labels L set to k_v (each series of E either holds a label of L,
// with v's value, or lacks it, and which is known for every expression): every series of
// E' holds L, and E' never mixes series of two versions. That holds of
//
//   - a vector selector with an equality matcher on each label of L, and any other
//     matchers: the matchers of L become regular expressions matching every version's
//     value (escaped, so matching exactly those);
//   - range functions (rate, increase, *_over_time, ...) of such a selector, and functions
//     of one series (abs, round with literal arguments, ...): series by series;
//   - sum, avg, min, max, count, group, stddev and stdvar by (G): by (G and L), since the
//     series of one version share L and so group as they did; without (W) when W holds no
//     label of L. Within a group, the series come in the order they did, so the sums are
//     the same to the bit;
//   - histogram_quantile(φ, E): buckets group by their other labels, L among them;
//   - arithmetic and comparisons with a number, and arithmetic, comparisons, and, or and
//     unless between two such expressions, one-to-one or many-to-many: matched on every
//     label but those ignored (none of L), whose series hold the same labels of L; or on
//     (G), which becomes on (G and L), whose series hold the same labels of L in G (and
//     the same labels of L for or, which keeps the series of both sides). Series of two
//     versions never match, series of one version match as they did;
//   - E or on() vector(c), and E or vector(c), where the series of E hold no label of L:
//     the one series of vector(c) becomes one per version, labelled with its values of L.
//
// Two shapes cost Prometheus less still, and are used where they apply. At the top of the
// query, E or on() vector(c) is sent as E', and the version without a series gets c from
// the collector. And where the query is A op B, op arithmetic, A and B aggregations
// without grouping (one series without labels per version at most), each perhaps `or
// vector(c)`, A' and B' are sent as two queries, and the collector applies op to each
// version's two numbers as Prometheus does (the same float64 operation), or gives no
// series where one side has none. Such a part is often a query another metric sends too
// (an error rate's denominator is the request count), and is then sent once.
//
// Every other expression, and every other difference between the versions' queries,
// leaves the metric's queries as written (mergeVersions says why). One version's error
// in Prometheus (duplicate series, too many samples) fails the merged query, which the
// collector then sends version by version, so that each version gets its own result.

// mergedQuery is what answers one metric's queries for several versions: one PromQL
// query, or two whose values for each version an arithmetic operator combines.
type mergedQuery struct {
	// parts are the queries to send, one or two.
	parts []mergedPart
	// op, with two parts, combines a version's values of the two as Prometheus would.
	op parser.ItemType
	// labels are the labels whose values tell the versions' series apart, sorted.
	labels []string
	// keys[i] are the values of labels that the i-th query merged selects.
	keys [][]string
}

// mergedPart is one query of a merged query.
type mergedPart struct {
	query string
	// orElse, when set, is the value of a version that the series do not answer (the
	// query was `E or on() vector(orElse)`).
	orElse *float64
}

// maxMergedLabels bounds the labels that may tell versions apart.
const maxMergedLabels = 8

// mergeVersions merges queries, one metric's distinct queries for several versions, into
// one, or says why they cannot be merged.
func mergeVersions(queries []string) (*mergedQuery, error) {
	if len(queries) < 2 {
		return nil, errors.New("fewer than two queries")
	}
	var (
		first  parser.Expr
		slots0 []matcherSlot
		shape0 string
		values = make([][]string, len(queries)) // values[i][k]: slot k's value in query i
	)
	for i, q := range queries {
		e, err := parser.ParseExpr(q)
		if err != nil {
			return nil, fmt.Errorf("query %d does not parse: %v", i+1, err)
		}
		slots := equalityMatchers(e)
		shape := shapeOf(slots, e)
		if i == 0 {
			first, slots0, shape0 = e, slots, shape
		} else if shape != shape0 {
			return nil, fmt.Errorf("queries 1 and %d differ in more than the values of equality matchers", i+1)
		}
		values[i] = make([]string, len(slots))
		for k, s := range slots {
			values[i][k] = s.matcher().Value
		}
	}

	// The slots whose values differ, and the labels they match.
	varying := map[matcherSlot]bool{}
	var names []string
	for k, s := range slots0 {
		for i := range queries {
			if values[i][k] != values[0][k] {
				varying[s] = true
				if name := s.matcher().Name; !slices.Contains(names, name) {
					names = append(names, name)
				}
				break
			}
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no label value differs between the queries")
	}
	slices.Sort(names)
	if len(names) > maxMergedLabels {
		return nil, fmt.Errorf("the values of %d labels differ, more than %d", len(names), maxMergedLabels)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("the value of %s differs, a label name Prometheus reserves", name)
		}
	}

	// Each query's values of the labels: one per label, not empty (an empty value also
	// matches the series without the label), valid UTF-8 (a regular expression must be).
	keys := make([][]string, len(queries))
	seen := map[string]int{}
	for i := range queries {
		keys[i] = make([]string, len(names))
		for k, s := range slots0 {
			if !varying[s] {
				continue
			}
			li := slices.Index(names, s.matcher().Name)
			v := values[i][k]
			switch {
			case v == "":
				return nil, fmt.Errorf("query %d matches %s to the empty value", i+1, names[li])
			case !utf8.ValidString(v):
				return nil, fmt.Errorf("query %d matches %s to a value that is not UTF-8", i+1, names[li])
			case keys[i][li] != "" && keys[i][li] != v:
				return nil, fmt.Errorf("query %d matches %s to two values", i+1, names[li])
			}
			keys[i][li] = v
		}
		id := fmt.Sprintf("%q", keys[i])
		if j, ok := seen[id]; ok {
			return nil, fmt.Errorf("queries %d and %d match the same values", j+1, i+1)
		}
		seen[id] = i
	}

	rw := &rewriter{labels: names, varying: varying, keys: keys, selects: map[string]*labels.Matcher{}}
	for li, name := range names {
		var vs []string
		for _, k := range keys {
			vs = append(vs, regexp.QuoteMeta(k[li]))
		}
		slices.Sort(vs)
		m, err := labels.NewMatcher(labels.MatchRegexp, name, strings.Join(slices.Compact(vs), "|"))
		if err != nil {
			return nil, fmt.Errorf("matching the values of %s: %v", name, err)
		}
		rw.selects[name] = m
	}

	out := &mergedQuery{labels: names, keys: keys}
	if b, ok := unparen(first).(*parser.BinaryExpr); ok && clientOps[b.Op] != nil && b.VectorMatching != nil &&
		b.VectorMatching.Card == parser.CardOneToOne && oneSeries(b.LHS) && oneSeries(b.RHS) {
		// Two series without labels: the operator is applied here, and each operand is
		// sent as a query of its own, which costs Prometheus less than constants per
		// version, and may be a query another metric sends too.
		for _, operand := range []parser.Expr{b.LHS, b.RHS} {
			p, err := rw.part(operand)
			if err != nil {
				return nil, err
			}
			out.parts = append(out.parts, p)
		}
		out.op = b.Op
		return out, nil
	}
	p, err := rw.part(first)
	if err != nil {
		return nil, err
	}
	out.parts = []mergedPart{p}
	return out, nil
}

// part rewrites e into a query of its own. `E or on() vector(c)` becomes E', the versions
// without a series getting c here.
func (r *rewriter) part(e parser.Expr) (mergedPart, error) {
	var p mergedPart
	if b, ok := unparen(e).(*parser.BinaryExpr); ok {
		if c, ok := orVector(b); ok && (b.VectorMatching.On || oneSeries(b.LHS)) {
			e, p.orElse = b.LHS, &c
		}
	}
	e, k, err := r.rewrite(e)
	if err != nil {
		return p, err
	}
	if k.scalar {
		return p, errors.New("the query is a scalar")
	}
	p.query = e.String()
	// The printed query must be one Prometheus reads; it is whenever the printer is right.
	if _, err := parser.ParseExpr(p.query); err != nil {
		return p, fmt.Errorf("the merged query does not parse: %v", err)
	}
	return p, nil
}

// clientOps are the operators applied between two parts, as Prometheus applies them.
var clientOps = map[parser.ItemType]func(a, b float64) float64{
	parser.ADD: func(a, b float64) float64 { return a + b },
	parser.SUB: func(a, b float64) float64 { return a - b },
	parser.MUL: func(a, b float64) float64 { return a * b },
	parser.DIV: func(a, b float64) float64 { return a / b },
	parser.MOD: math.Mod,
}

// oneSeries reports whether e gives each version one series without labels at most: an
// aggregation without grouping, or such an aggregation `or vector(c)`, `or on() vector(c)`.
func oneSeries(e parser.Expr) bool {
	e = unparen(e)
	if b, ok := e.(*parser.BinaryExpr); ok {
		if _, ok := orVector(b); !ok {
			return false
		}
		e = unparen(b.LHS)
	}
	a, ok := e.(*parser.AggregateExpr)
	return ok && aggregations[a.Op] && a.Param == nil && !a.Without && len(a.Grouping) == 0
}

// answer reads each version's answer, in the order of keys, out of the answers to the
// parts. It fails on an answer that is not Prometheus' evaluation of the parts: a series
// that no version's query could have selected, two series of a version where an operand
// has one at most, a histogram where the operator needs a number.
func (m *mergedQuery) answer(answers []model.Vector) ([]model.Vector, error) {
	var parts [][]model.Vector
	for i, p := range m.parts {
		vs, err := m.split(answers[i], p.orElse)
		if err != nil {
			return nil, err
		}
		parts = append(parts, vs)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	op := clientOps[m.op]
	out := make([]model.Vector, len(m.keys))
	for i := range m.keys {
		a, b := parts[0][i], parts[1][i]
		if len(a) > 1 || len(b) > 1 {
			return nil, fmt.Errorf("%d and %d series for one version, where the operator %s needs one", len(a), len(b), m.op)
		}
		if len(a) == 0 || len(b) == 0 {
			// No match: an empty result, as Prometheus would give.
			continue
		}
		if a[0].Histogram != nil || b[0].Histogram != nil {
			return nil, errors.New("a histogram sample, where the operator needs a number")
		}
		out[i] = model.Vector{&model.Sample{Metric: model.Metric{}, Value: model.SampleValue(op(float64(a[0].Value), float64(b[0].Value))), Timestamp: a[0].Timestamp}}
	}
	return out, nil
}

// split divides the answer to a part among the versions, in the order of keys.
func (m *mergedQuery) split(vec model.Vector, orElse *float64) ([]model.Vector, error) {
	index := make(map[string]int, len(m.keys))
	allowed := make([]map[string]bool, len(m.labels))
	for li := range m.labels {
		allowed[li] = map[string]bool{}
	}
	for i, k := range m.keys {
		index[strings.Join(k, "\x00")] = i
		for li, v := range k {
			allowed[li][v] = true
		}
	}
	parts := make([]model.Vector, len(m.keys))
	key := make([]string, len(m.labels))
	for _, s := range vec {
		for li, l := range m.labels {
			v, ok := s.Metric[model.LabelName(l)]
			if !ok || !allowed[li][string(v)] {
				return nil, fmt.Errorf("a series with %s=%q, which no version selects", l, v)
			}
			key[li] = string(v)
		}
		// A combination of values no version has (when several labels differ) is dropped.
		if i, ok := index[strings.Join(key, "\x00")]; ok {
			parts[i] = append(parts[i], s)
		}
	}
	if orElse != nil {
		for i, p := range parts {
			if len(p) == 0 {
				parts[i] = model.Vector{&model.Sample{Metric: model.Metric{}, Value: model.SampleValue(*orElse)}}
			}
		}
	}
	return parts, nil
}

// matcherSlot is where an equality matcher stands in a parsed query.
type matcherSlot struct {
	sel *parser.VectorSelector
	i   int
}

func (s matcherSlot) matcher() *labels.Matcher { return s.sel.LabelMatchers[s.i] }

// equalityMatchers lists the equality matchers of e, in the order of the query.
func equalityMatchers(e parser.Expr) []matcherSlot {
	var out []matcherSlot
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			for i, m := range vs.LabelMatchers {
				if m.Type == labels.MatchEqual {
					out = append(out, matcherSlot{vs, i})
				}
			}
		}
		return nil
	})
	return out
}

// shapeOf prints e with the values of its equality matchers left out: two queries of the
// same shape differ in those values at most.
func shapeOf(slots []matcherSlot, e parser.Expr) string {
	saved := make([]*labels.Matcher, len(slots))
	for k, s := range slots {
		saved[k] = s.matcher()
		s.sel.LabelMatchers[s.i] = &labels.Matcher{Type: labels.MatchEqual, Name: saved[k].Name}
	}
	shape := e.String()
	for k, s := range slots {
		s.sel.LabelMatchers[s.i] = saved[k]
	}
	return shape
}

// exprKind is what the rewrite knows of an expression: a scalar, or a vector whose series,
// in each version's query, all hold the labels of keeps (bit i for labels[i]) and none of
// the other labels that tell versions apart.
type exprKind struct {
	scalar bool
	keeps  uint64
}

// rewriter rewrites the first of the queries merged.
type rewriter struct {
	labels  []string
	varying map[matcherSlot]bool
	keys    [][]string
	selects map[string]*labels.Matcher // per label, the matcher of every version's value
}

func (r *rewriter) all() uint64 { return 1<<len(r.labels) - 1 }

func (r *rewriter) names(set uint64) string {
	var out []string
	for i, l := range r.labels {
		if set&(1<<i) != 0 {
			out = append(out, l)
		}
	}
	return strings.Join(out, ", ")
}

// within returns the labels of set among names.
func (r *rewriter) within(set uint64, names []string) uint64 {
	var out uint64
	for i, l := range r.labels {
		if set&(1<<i) != 0 && slices.Contains(names, l) {
			out |= 1 << i
		}
	}
	return out
}

// rangeFuncs take a range of each series and keep its labels.
var rangeFuncs = map[string]bool{
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
	"changes": true, "resets": true, "avg_over_time": true, "sum_over_time": true,
	"min_over_time": true, "max_over_time": true, "count_over_time": true, "last_over_time": true,
	"present_over_time": true, "stddev_over_time": true, "stdvar_over_time": true,
	"quantile_over_time": true,
}

// seriesFuncs map each series of their first argument to one with its labels.
var seriesFuncs = map[string]bool{
	"abs": true, "ceil": true, "floor": true, "exp": true, "sqrt": true, "ln": true, "log2": true,
	"log10": true, "sgn": true, "round": true, "clamp": true, "clamp_min": true, "clamp_max": true,
}

// aggregations group series and make one of each group.
var aggregations = map[parser.ItemType]bool{
	parser.SUM: true, parser.AVG: true, parser.MIN: true, parser.MAX: true, parser.COUNT: true,
	parser.GROUP: true, parser.STDDEV: true, parser.STDVAR: true,
}

// binaryOps are the operators merged between vectors.
var binaryOps = map[parser.ItemType]bool{
	parser.ADD: true, parser.SUB: true, parser.MUL: true, parser.DIV: true, parser.MOD: true,
	parser.EQLC: true, parser.NEQ: true, parser.GTR: true, parser.LSS: true, parser.GTE: true, parser.LTE: true,
	parser.LAND: true, parser.LOR: true, parser.LUNLESS: true,
}

// rewrite rewrites e in place, returning the expression that replaces it.
func (r *rewriter) rewrite(e parser.Expr) (parser.Expr, exprKind, error) {
	switch n := e.(type) {
	case *parser.NumberLiteral:
		return n, exprKind{scalar: true}, nil
	case *parser.ParenExpr:
		inner, k, err := r.rewrite(n.Expr)
		n.Expr = inner
		return n, k, err
	case *parser.UnaryExpr:
		inner, k, err := r.rewrite(n.Expr)
		n.Expr = inner
		return n, k, err
	case *parser.VectorSelector:
		return n, exprKind{keeps: r.all()}, r.selector(n)
	case *parser.Call:
		return r.call(n)
	case *parser.AggregateExpr:
		return r.aggregate(n)
	case *parser.BinaryExpr:
		return r.binary(n)
	case *parser.MatrixSelector:
		return nil, exprKind{}, errors.New("a range selector outside a range function")
	case *parser.SubqueryExpr:
		return nil, exprKind{}, errors.New("a subquery")
	case *parser.StringLiteral:
		return nil, exprKind{}, errors.New("a string")
	}
	return nil, exprKind{}, fmt.Errorf("an expression of type %T", e)
}

// selector makes vs select the series of every version.
func (r *rewriter) selector(vs *parser.VectorSelector) error {
	if vs.Name != "" && !model.IsValidLegacyMetricName(vs.Name) {
		return fmt.Errorf("the metric name %q needs quotes", vs.Name)
	}
	if vs.OriginalOffsetExpr != nil {
		return errors.New("an offset expression")
	}
	var has uint64
	for i, m := range vs.LabelMatchers {
		if !model.LabelName(m.Name).IsValidLegacy() {
			return fmt.Errorf("the label name %q needs quotes", m.Name)
		}
		if r.varying[matcherSlot{vs, i}] {
			vs.LabelMatchers[i] = r.selects[m.Name]
			has |= 1 << slices.Index(r.labels, m.Name)
		}
	}
	if missing := r.all() &^ has; missing != 0 {
		return fmt.Errorf("a selector of %s without the matcher on %s that differs between versions", vs.Name, r.names(missing))
	}
	return nil
}

func (r *rewriter) call(n *parser.Call) (parser.Expr, exprKind, error) {
	name := n.Func.Name
	switch {
	case rangeFuncs[name]:
		for i, a := range n.Args {
			ms, ok := a.(*parser.MatrixSelector)
			if !ok {
				if _, ok := literal(a); !ok {
					return nil, exprKind{}, fmt.Errorf("%s with an argument that is neither a range selector nor a number", name)
				}
				continue
			}
			vs, ok := ms.VectorSelector.(*parser.VectorSelector)
			if !ok || ms.RangeExpr != nil {
				return nil, exprKind{}, fmt.Errorf("%s of an unusual range", name)
			}
			if err := r.selector(vs); err != nil {
				return nil, exprKind{}, err
			}
			n.Args[i] = ms
		}
		return n, exprKind{keeps: r.all()}, nil
	case name == "histogram_quantile" || seriesFuncs[name]:
		vi := 0
		if name == "histogram_quantile" {
			if slices.Contains(r.labels, model.BucketLabel) {
				return nil, exprKind{}, errors.New("histogram_quantile where le differs between versions")
			}
			vi = 1
		}
		var kind exprKind
		for i, a := range n.Args {
			if i != vi {
				if _, ok := literal(a); !ok {
					return nil, exprKind{}, fmt.Errorf("%s with an argument that is not a number", name)
				}
				continue
			}
			e, k, err := r.rewrite(a)
			if err != nil {
				return nil, exprKind{}, err
			}
			if k.scalar {
				return nil, exprKind{}, fmt.Errorf("%s of a scalar", name)
			}
			n.Args[i], kind = e, k
		}
		return n, kind, nil
	case name == "vector":
		return nil, exprKind{}, errors.New("vector() other than in `or vector()`")
	}
	return nil, exprKind{}, fmt.Errorf("the function %s", name)
}

func (r *rewriter) aggregate(n *parser.AggregateExpr) (parser.Expr, exprKind, error) {
	if !aggregations[n.Op] || n.Param != nil {
		return nil, exprKind{}, fmt.Errorf("the aggregation %s", n.Op)
	}
	for _, l := range n.Grouping {
		if !model.LabelName(l).IsValidLegacy() {
			return nil, exprKind{}, fmt.Errorf("the label name %q needs quotes", l)
		}
	}
	inner, k, err := r.rewrite(n.Expr)
	if err != nil {
		return nil, exprKind{}, err
	}
	n.Expr = inner
	if n.Without {
		if in := r.within(r.all(), n.Grouping); in != 0 {
			return nil, exprKind{}, fmt.Errorf("%s without (%s), which drops the label that tells versions apart", n.Op, r.names(in))
		}
		return n, k, nil
	}
	keeps := r.within(k.keeps, n.Grouping)
	n.Grouping = r.withLabels(n.Grouping)
	return n, exprKind{keeps: keeps}, nil
}

// withLabels returns a copy of names with the labels that tell versions apart appended,
// those it lacks, so that a grouping or a matching keeps one series per version.
func (r *rewriter) withLabels(names []string) []string {
	out := slices.Clone(names)
	for _, l := range r.labels {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func (r *rewriter) binary(n *parser.BinaryExpr) (parser.Expr, exprKind, error) {
	if !binaryOps[n.Op] {
		return nil, exprKind{}, fmt.Errorf("the operator %s", n.Op)
	}
	vm := n.VectorMatching
	if c, ok := orVector(n); ok {
		// E or on() vector(c), E or vector(c): a zero series per version.
		lhs, k, err := r.rewrite(n.LHS)
		if err != nil {
			return nil, exprKind{}, err
		}
		if k.scalar || k.keeps != 0 {
			return nil, exprKind{}, fmt.Errorf("`or vector()` after an expression whose series hold %s", r.names(k.keeps))
		}
		n.LHS, n.RHS = lhs, &parser.ParenExpr{Expr: r.constants(c)}
		if vm.On {
			vm.MatchingLabels = slices.Clone(r.labels)
		}
		return n, exprKind{}, nil
	}
	lhs, lk, err := r.rewrite(n.LHS)
	if err != nil {
		return nil, exprKind{}, err
	}
	rhs, rk, err := r.rewrite(n.RHS)
	if err != nil {
		return nil, exprKind{}, err
	}
	n.LHS, n.RHS = lhs, rhs
	switch {
	case lk.scalar && rk.scalar:
		return n, exprKind{scalar: true}, nil
	case lk.scalar:
		return n, rk, nil
	case rk.scalar:
		return n, lk, nil
	}
	if vm == nil || (vm.Card != parser.CardOneToOne && vm.Card != parser.CardManyToMany) {
		return nil, exprKind{}, fmt.Errorf("%s with group_left or group_right", n.Op)
	}
	for _, l := range vm.MatchingLabels {
		if !model.LabelName(l).IsValidLegacy() {
			return nil, exprKind{}, fmt.Errorf("the label name %q needs quotes", l)
		}
	}
	if !vm.On {
		if in := r.within(r.all(), vm.MatchingLabels); in != 0 {
			return nil, exprKind{}, fmt.Errorf("%s ignoring (%s), the label that tells versions apart", n.Op, r.names(in))
		}
	}
	// Series match on every label but those ignored, L among them, or on (G): then they
	// must hold the same labels of L, or the same of L in G.
	switch {
	case !vm.On || n.Op == parser.LOR:
		// `or` gives the series of both sides: they must hold the same labels of L.
		if lk.keeps != rk.keeps {
			return nil, exprKind{}, fmt.Errorf("%s between series that hold %q and series that hold %q", n.Op, r.names(lk.keeps), r.names(rk.keeps))
		}
	case r.within(lk.keeps, vm.MatchingLabels) != r.within(rk.keeps, vm.MatchingLabels):
		return nil, exprKind{}, fmt.Errorf("%s on (%s) between series that hold %q and series that hold %q", n.Op,
			strings.Join(vm.MatchingLabels, ", "), r.names(lk.keeps), r.names(rk.keeps))
	}
	if !vm.On {
		return n, lk, nil
	}
	keeps := lk.keeps
	if !n.Op.IsSetOperator() {
		// One-to-one matching on (G) keeps only G.
		keeps = r.within(keeps, vm.MatchingLabels)
	}
	vm.MatchingLabels = r.withLabels(vm.MatchingLabels)
	return n, exprKind{keeps: keeps}, nil
}

// constants is one series of value c per version, labelled with its values.
func (r *rewriter) constants(c float64) parser.Expr {
	str := func(s string) parser.Expr { return &parser.StringLiteral{Val: s} }
	var zs []parser.Expr
	for _, key := range r.keys {
		var e parser.Expr = &parser.Call{Func: parser.Functions["vector"], Args: parser.Expressions{&parser.NumberLiteral{Val: c}}}
		for li, l := range r.labels {
			e = &parser.Call{Func: parser.Functions["label_replace"], Args: parser.Expressions{e, str(l), str(key[li]), str(""), str("")}}
		}
		zs = append(zs, e)
	}
	or := func(a, b parser.Expr) parser.Expr {
		return &parser.BinaryExpr{Op: parser.LOR, LHS: a, RHS: b, VectorMatching: &parser.VectorMatching{Card: parser.CardManyToMany}}
	}
	out := zs[0]
	for _, z := range zs[1:] {
		out = or(out, z)
	}
	return out
}

// orVector returns c when b is `E or vector(c)`, with on() or without matching labels.
func orVector(b *parser.BinaryExpr) (float64, bool) {
	if b.Op != parser.LOR || b.VectorMatching == nil || len(b.VectorMatching.MatchingLabels) > 0 {
		return 0, false
	}
	call, ok := unparen(b.RHS).(*parser.Call)
	if !ok || call.Func.Name != "vector" || len(call.Args) != 1 {
		return 0, false
	}
	return literal(call.Args[0])
}

// literal returns the value of a number, possibly signed and in parentheses.
func literal(e parser.Expr) (float64, bool) {
	switch n := e.(type) {
	case *parser.NumberLiteral:
		return n.Val, true
	case *parser.ParenExpr:
		return literal(n.Expr)
	case *parser.UnaryExpr:
		v, ok := literal(n.Expr)
		if n.Op == parser.SUB {
			v = -v
		}
		return v, ok
	}
	return 0, false
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}
