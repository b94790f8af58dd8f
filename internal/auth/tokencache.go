package auth

import (
	"slices"
	"sync"
	"time"
)

// A client sends the same token with every request until it expires, and
// checking one (its signature, and a JSON parse of its claims) is most of
// what an entitlement read costs. A Verifier therefore remembers the tokens
// that verified, by their exact text, for at most tokenCacheTTL and never
// past their expiry (with the leeway). Only success is remembered: a token
// that fails is checked again every time, and fails for the same reason.
//
// A key withdrawn from the JWKS stops admitting its tokens within
// tokenCacheTTL; keyfunc refreshes the set hourly, which bounds that far more.
const (
	tokenCacheTTL = time.Minute
	// tokenCacheSize bounds the entries; tokens longer than
	// tokenCacheMaxBytes are not remembered, so the cache holds at most a few
	// MiB.
	tokenCacheSize     = 4096
	tokenCacheMaxBytes = 2 << 10
)

type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]cachedToken
}

type cachedToken struct {
	p     Principal
	until time.Time // the first instant it must be checked again
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: make(map[string]cachedToken)}
}

// get returns the principal of a token that verified and may still be
// trusted at now.
func (c *tokenCache) get(token string, now time.Time) (Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p.clone(), true
}

// put remembers that token verified at now as p and expires at expires
// (with the leeway applied).
func (c *tokenCache) put(token string, p Principal, now, expires time.Time) {
	until := now.Add(tokenCacheTTL)
	if expires.Before(until) {
		until = expires
	}
	if len(token) > tokenCacheMaxBytes || !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheSize {
		c.evict(now)
	}
	c.entries[token] = cachedToken{p: p.clone(), until: until}
}

// evict drops the entries past their time and, if that leaves the cache
// full, a quarter of the rest (the map's order picks them).
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	drop := len(c.entries) - tokenCacheSize*3/4
	for k := range c.entries {
		if drop <= 0 {
			break
		}
		delete(c.entries, k)
		drop--
	}
}

// clone gives each caller its own Scopes.
func (p Principal) clone() Principal {
	p.Scopes = slices.Clone(p.Scopes)
	return p
}
