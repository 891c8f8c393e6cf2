package lifecycleidentityprocessor // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor"

import (
	"regexp"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// violationsAttr is the span attribute that lists identity violations when
// identity.on_violation is tag.
const violationsAttr = "lifecycle.identity.violations"

// Violation kinds, also the values of the metric attribute "kind".
const (
	kindNone = iota
	kindMissing
	kindType
	kindPattern
	numKinds
)

var kindNames = [numKinds]string{"", "missing", "type", "pattern"}

// rule is one compiled entry of the identity schema. Patterns are compiled
// once, when the processor is created.
type rule struct {
	key      string
	required bool
	typ      pcommon.ValueType // ValueTypeEmpty: any type
	re       *regexp.Regexp
	tags     [numKinds]string // "missing:KEY", "type:KEY", "pattern:KEY"

	// A one-entry cache of the last string checked against re: spans of one
	// process carry the same value, and a regexp match costs more than a
	// string comparison.
	lastStr   string
	lastMatch bool
	hasLast   bool
}

// identityChecker validates spans against the schema. It is not safe for
// concurrent use; the processor serialises calls.
type identityChecker struct {
	rules []rule
	// lens has bit n%64 set when some key is n bytes long: most attribute
	// keys are rejected without a string comparison.
	lens uint64

	// Per resource: the value of each key on the resource and the verdict for
	// it, computed once per resource.
	resFound []bool
	resKind  []uint8

	// Per span scratch.
	spanVal   []pcommon.Value
	spanFound []bool
	kinds     []uint8
}

func newIdentityChecker(attrs []AttributeRule) *identityChecker {
	c := &identityChecker{
		rules:     make([]rule, len(attrs)),
		resFound:  make([]bool, len(attrs)),
		resKind:   make([]uint8, len(attrs)),
		spanVal:   make([]pcommon.Value, len(attrs)),
		spanFound: make([]bool, len(attrs)),
		kinds:     make([]uint8, len(attrs)),
	}
	for i, a := range attrs {
		r := rule{key: a.Key, required: a.Required, typ: valueType(a.Type)}
		if a.Pattern != "" {
			// Validate() has compiled it already; this cannot fail.
			r.re = regexp.MustCompile(a.Pattern)
		}
		r.tags[kindMissing] = "missing:" + a.Key
		r.tags[kindType] = "type:" + a.Key
		r.tags[kindPattern] = "pattern:" + a.Key
		c.rules[i] = r
		c.lens |= 1 << (len(a.Key) & 63)
	}
	return c
}

func valueType(t string) pcommon.ValueType {
	switch t {
	case TypeString:
		return pcommon.ValueTypeStr
	case TypeInt:
		return pcommon.ValueTypeInt
	case TypeDouble:
		return pcommon.ValueTypeDouble
	case TypeBool:
		return pcommon.ValueTypeBool
	}
	return pcommon.ValueTypeEmpty
}

// beginResource evaluates the schema against a resource's attributes; spans
// that lack a key fall back to this verdict.
func (c *identityChecker) beginResource(attrs pcommon.Map) {
	if len(c.rules) == 0 {
		return
	}
	clear(c.resFound)
	for k, v := range attrs.All() {
		if i := c.index(k); i >= 0 {
			c.resFound[i] = true
			c.resKind[i] = c.rules[i].verdict(v)
		}
	}
	for i := range c.rules {
		if !c.resFound[i] {
			c.resKind[i] = kindNone
			if c.rules[i].required {
				c.resKind[i] = kindMissing
			}
		}
	}
}

// index returns the position of key in the schema, or -1.
func (c *identityChecker) index(key string) int {
	if c.lens&(1<<(len(key)&63)) == 0 {
		return -1
	}
	for i := range c.rules {
		if len(c.rules[i].key) == len(key) && c.rules[i].key == key {
			return i
		}
	}
	return -1
}

// check evaluates one span. It returns the number of violations; their kinds
// are in c.kinds (kindNone where a rule holds).
func (c *identityChecker) check(span ptrace.Span) int {
	if len(c.rules) == 0 {
		return 0
	}
	clear(c.spanFound)
	for k, v := range span.Attributes().All() {
		if i := c.index(k); i >= 0 {
			c.spanFound[i] = true
			c.spanVal[i] = v
		}
	}
	n := 0
	for i := range c.rules {
		var kind uint8
		if c.spanFound[i] {
			kind = c.rules[i].verdict(c.spanVal[i])
		} else {
			kind = c.resKind[i]
		}
		c.kinds[i] = kind
		if kind != kindNone {
			n++
		}
	}
	return n
}

// tag writes the violations found by the last check onto the span.
func (c *identityChecker) tag(span ptrace.Span, n int) {
	s := span.Attributes().PutEmptySlice(violationsAttr)
	s.EnsureCapacity(n)
	for i, k := range c.kinds {
		if k != kindNone {
			s.AppendEmpty().SetStr(c.rules[i].tags[k])
		}
	}
}

// verdict checks a present value against the rule.
func (r *rule) verdict(v pcommon.Value) uint8 {
	if r.typ != pcommon.ValueTypeEmpty && v.Type() != r.typ {
		return kindType
	}
	if r.re == nil {
		return kindNone
	}
	var s string
	if v.Type() == pcommon.ValueTypeStr {
		s = v.Str()
	} else {
		s = v.AsString()
	}
	if !r.hasLast || r.lastStr != s {
		r.lastStr = s
		r.lastMatch = r.re.MatchString(s)
		r.hasLast = true
	}
	if r.lastMatch {
		return kindNone
	}
	return kindPattern
}
