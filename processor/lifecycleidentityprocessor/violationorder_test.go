package lifecycleidentityprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// violationList returns the lifecycle.identity.violations entries of a span,
// nil when it has none.
func violationList(t *testing.T, span ptrace.Span) []string {
	t.Helper()
	v, ok := span.Attributes().Get(violationsAttr)
	if !ok {
		return nil
	}
	require.Equal(t, "Slice", v.Type().String(), "%s is a string slice", violationsAttr)
	var out []string
	for _, e := range v.Slice().All() {
		out = append(out, e.Str())
	}
	return out
}

// TestViolationsListedInSchemaOrder: a span with several violations lists
// them in the order of identity.attributes, whatever the order of the span's
// attributes, the kinds, or the keys' alphabetical order, and whether the
// offending value is on the span or on its resource. The schema here is
// deliberately neither sorted by key nor grouped by kind.
func TestViolationsListedInSchemaOrder(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Identity.OnViolation = OnViolationTag
	cfg.Identity.Attributes = []AttributeRule{
		{Key: "zeta", Required: true},
		{Key: "alpha", Type: TypeInt},
		{Key: "mid", Pattern: `^x+$`},
		{Key: "beta", Required: true},
		{Key: "omega", Type: TypeBool},
	}
	p := newCore(t, cfg, newFakeClock(), nopSettings())

	td := batch([]tspan{g("many", 1, 0), g("one", 2, 0), g("none", 3, 0)})
	res := td.ResourceSpans().At(0).Resource().Attributes()
	res.PutStr("alpha", "not-an-int") // type:alpha comes from the resource
	res.PutStr("beta", "ok")
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	many := spans.At(0).Attributes() // set in an order unlike the schema's
	many.PutStr("omega", "true")     // type: a string, not a bool
	many.PutStr("mid", "y")          // pattern
	// zeta missing on span and resource
	one := spans.At(1).Attributes()
	one.PutStr("zeta", "z")
	one.PutInt("alpha", 3) // overrides the resource's bad value
	one.PutStr("mid", "yy")
	none := spans.At(2).Attributes()
	none.PutStr("zeta", "z")
	none.PutInt("alpha", 3)
	none.PutBool("omega", false)

	out := run(t, p, []ptrace.Traces{td})
	require.Len(t, out, 1)
	got := out[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	require.Equal(t, 3, got.Len())
	assert.Equal(t, []string{"missing:zeta", "type:alpha", "pattern:mid", "type:omega"}, violationList(t, got.At(0)))
	assert.Equal(t, []string{"pattern:mid"}, violationList(t, got.At(1)), "only this span's own violation")
	assert.Nil(t, violationList(t, got.At(2)), "a valid span is not tagged")
	require.NoError(t, p.shutdown(t.Context()))
}

// TestViolationsDefaultSchemaOrder: the same with the shipped schema, every
// one of its five keys broken (on_violation tag, which is not the default).
func TestViolationsDefaultSchemaOrder(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Identity.OnViolation = OnViolationTag
	p := newCore(t, cfg, newFakeClock(), nopSettings())
	td := batch([]tspan{g("all-wrong", 1, 0)})
	res := td.ResourceSpans().At(0).Resource().Attributes()
	res.Clear()
	attrs := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	attrs.PutStr("process.nonce", "not-a-uuid")
	attrs.PutInt("footprint.solution", 1)
	attrs.PutStr("footprint.revision", "seven")
	attrs.PutBool("footprint.identifier", true)
	out := run(t, p, []ptrace.Traces{td})
	require.Len(t, out, 1)
	assert.Equal(t, []string{
		"missing:component.name",
		"type:footprint.identifier",
		"type:footprint.revision",
		"type:footprint.solution",
		"pattern:process.nonce",
	}, violationList(t, out[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)))
	require.NoError(t, p.shutdown(t.Context()))
}
