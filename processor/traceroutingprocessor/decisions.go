package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"hash/maphash"
	"sync/atomic"
)

// decisionSlots is how many trace configs decisionCache remembers; a power
// of two. A producer sends the same few trace configs on every request
// (one per tenant it serves); past that, a config costs a decode per
// request, as without the cache.
const decisionSlots = 64

// decisionCache keeps the decisions of the trace configs seen last, across
// requests. Decoding the header is the one per-request cost of a request
// whose resources all use it (a JSON decode and some twenty allocations,
// several ns per span of a 512-span request), and decisions depend only on
// the trace config and the processor's config, so one decided by an
// earlier request serves again. It is direct-mapped and lock-free:
// concurrent requests read it without waiting, and a collision only costs
// a decode. Memory is bounded: only configs within maxTraceConfigBytes are
// kept (a longer one is invalid without decoding anyway), at most
// decisionSlots of them.
type decisionCache struct {
	router *router
	seed   maphash.Seed
	slots  [decisionSlots]atomic.Pointer[decision]
}

func newDecisionCache(r *router) *decisionCache {
	return &decisionCache{router: r, seed: maphash.MakeSeed()}
}

// decide is router.decide, remembered. Decisions are only read once made,
// so one is shared by every request that uses its trace config.
func (c *decisionCache) decide(raw string) *decision {
	if len(raw) > maxTraceConfigBytes {
		return c.router.decide(raw)
	}
	slot := &c.slots[maphash.String(c.seed, raw)&(decisionSlots-1)]
	if d := slot.Load(); d != nil && d.raw == raw {
		return d
	}
	d := c.router.decide(raw)
	slot.Store(d)
	return d
}
