package traceroutingprocessor

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestDecisionCache(t *testing.T) *decisionCache {
	cfg := createDefaultConfig().(*Config)
	routesConfig(cfg)
	r, err := newRouter(cfg)
	require.NoError(t, err)
	return newDecisionCache(r)
}

// A trace config decided once is not decided again: the next request that
// sends it gets the very same decision.
func TestDecisionCacheRemembers(t *testing.T) {
	c := newTestDecisionCache(t)
	first := c.decide(`{"accountId":42}`)
	assert.Same(t, first, c.decide(`{"accountId":42}`))
	assert.Equal(t, "tempo", first.route)

	other := c.decide(`{"accountId":2,"zoneId":1}`)
	assert.NotSame(t, first, other)
	assert.Equal(t, "tempo,vendor", other.route)

	invalid := c.decide("{broken")
	assert.Same(t, invalid, c.decide("{broken"), "an invalid config is remembered too")
	assert.Equal(t, reasonInvalid, invalid.fallback)
}

// A config over the size limit is never kept, so the cache holds at most
// decisionSlots configs of at most maxTraceConfigBytes.
func TestDecisionCacheKeepsNoOversizedConfig(t *testing.T) {
	c := newTestDecisionCache(t)
	big := `{"accountId":42,"pad":"` + strings.Repeat("x", maxTraceConfigBytes) + `"}`
	d := c.decide(big)
	assert.ErrorIs(t, d.err, errTooLarge)
	assert.NotSame(t, d, c.decide(big))
	for i := range c.slots {
		assert.Nil(t, c.slots[i].Load())
	}
}

// More distinct configs than slots evict each other; each still gets its
// own decision (the uncached router's), from any number of goroutines at
// once.
func TestDecisionCacheEvictsAndStaysRight(t *testing.T) {
	c := newTestDecisionCache(t)
	const configs = 4 * decisionSlots
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for round := range 3 {
				for i := range configs {
					raw := fmt.Sprintf(`{"accountId":%d,"zoneId":"eu"}`, i)
					d, want := c.decide(raw), c.router.decide(raw).route
					if d.raw != raw || d.route != want {
						t.Errorf("round %d: %s decided as %q for %q", round, raw, d.route, d.raw)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
