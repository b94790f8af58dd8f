package billing

import (
	"sync"
	"time"
)

// ChangeFeed is implemented by a Notifier that sees every change it wakes
// waiters for, on every replica it reaches. With one, the Service caches
// entitlement reads and drops them on change; without one it reads the store
// every time.
type ChangeFeed interface {
	// OnChange registers fn. It is called with an org id before that org's
	// waiters are woken, and with "" when notifications may have been lost and
	// any org may have changed.
	OnChange(fn func(orgID string))
}

// Entitlement cache bounds. The TTL only matters when a notification is lost
// (a replica's listening connection is down): it bounds how stale a read can
// be then. maxCachedOrgs bounds memory.
const (
	defaultEntitlementTTL = time.Second
	maxCachedOrgs         = 100_000
)

// entitlementCache holds the views of recently read orgs. A nil cache caches
// nothing.
//
// A read that misses loads from the store and may then put; a change that
// lands meanwhile must not be overwritten by that older load. So every
// invalidation bumps epoch, and put keeps a view only if no invalidation
// happened since its load began.
type entitlementCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	epoch   uint64
	entries map[string]cachedView
	// nextSweep is when put next drops the expired entries: without it, each
	// org ever read would stay until maxCachedOrgs, and after 10,000 held
	// long-polls their small views, scattered through the heap, would keep
	// hundreds of MiB of it from being handed back.
	nextSweep time.Time
}

type cachedView struct {
	view    EntitlementView
	expires time.Time
}

func newEntitlementCache(ttl time.Duration, now func() time.Time) *entitlementCache {
	return &entitlementCache{ttl: ttl, now: now, entries: map[string]cachedView{}}
}

// get returns the cached view of orgID if it is fresh, or else the epoch to
// hand to put after loading it.
func (c *entitlementCache) get(orgID string) (EntitlementView, uint64, bool) {
	if c == nil {
		return EntitlementView{}, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[orgID]
	if ok && c.now().Before(e.expires) {
		return e.view, 0, true
	}
	return EntitlementView{}, c.epoch, false
}

// put caches v unless something was invalidated since epoch was read.
func (c *entitlementCache) put(orgID string, v EntitlementView, epoch uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	now := c.now()
	if now.After(c.nextSweep) {
		for org, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, org)
			}
		}
		c.nextSweep = now.Add(c.ttl)
	}
	if len(c.entries) >= maxCachedOrgs {
		clear(c.entries)
	}
	c.entries[orgID] = cachedView{view: v, expires: now.Add(c.ttl)}
}

// invalidate drops orgID's view, or every view when orgID is "".
func (c *entitlementCache) invalidate(orgID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if orgID == "" {
		clear(c.entries)
		return
	}
	delete(c.entries, orgID)
}
