package auth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTokenCache(t *testing.T) {
	now := time.Now()
	p := Principal{Subject: "user_1", OrgID: "org_1"}
	t.Run("TrustedUntilExpiryOrTTL", func(t *testing.T) {
		c := newTokenCache()
		c.put("soon", p, now, now.Add(10*time.Second))
		c.put("later", p, now, now.Add(time.Hour))
		if _, ok := c.get("soon", now.Add(9*time.Second)); !ok {
			t.Error("a token before its expiry was not remembered")
		}
		if _, ok := c.get("soon", now.Add(10*time.Second)); ok {
			t.Error("a token at its expiry was trusted")
		}
		if _, ok := c.get("later", now.Add(tokenCacheTTL)); ok {
			t.Error("a token was trusted past the cache's TTL")
		}
	})
	t.Run("ExpiredOrLongTokensAreNotKept", func(t *testing.T) {
		c := newTokenCache()
		c.put("expired", p, now, now)
		c.put(strings.Repeat("x", tokenCacheMaxBytes+1), p, now, now.Add(time.Hour))
		if n := entries(c); n != 0 {
			t.Fatalf("%d entries; want none", n)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		c := newTokenCache()
		for i := range tokenCacheSize + 500 {
			c.put(fmt.Sprint("token", i), p, now, now.Add(time.Hour))
			if n := entries(c); n > tokenCacheSize {
				t.Fatalf("%d entries after %d puts; want at most %d", n, i+1, tokenCacheSize)
			}
		}
		if _, ok := c.get(fmt.Sprint("token", tokenCacheSize+499), now); !ok {
			t.Error("the newest token is not remembered")
		}
	})
	t.Run("PastEntriesGoFirst", func(t *testing.T) {
		c := newTokenCache()
		for i := range tokenCacheSize {
			c.put(fmt.Sprint("old", i), p, now, now.Add(time.Second))
		}
		later := now.Add(2 * time.Second)
		c.put("new", p, later, later.Add(time.Hour))
		if n := entries(c); n != 1 {
			t.Fatalf("%d entries; want only the new one, the rest being past", n)
		}
	})
}

func entries(c *tokenCache) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
