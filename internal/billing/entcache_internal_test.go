package billing

import (
	"testing"
	"time"
)

func TestEntitlementCache_LoadThatRacesAChangeIsNotKept(t *testing.T) {
	c := newEntitlementCache(time.Minute, time.Now)
	_, epoch, ok := c.get("org_a")
	if ok {
		t.Fatal("hit on an empty cache")
	}
	// The load read the old row; the change commits and invalidates before
	// the load puts its answer.
	c.invalidate("org_a")
	c.put("org_a", EntitlementView{OrgID: "org_a", Plan: FreePlan}, epoch)
	if _, _, ok := c.get("org_a"); ok {
		t.Fatal("a view loaded before an invalidation was cached")
	}
	_, epoch, _ = c.get("org_a")
	c.put("org_a", EntitlementView{OrgID: "org_a", Plan: "pro"}, epoch)
	if v, _, ok := c.get("org_a"); !ok || v.Plan != "pro" {
		t.Fatalf("get = %+v, %t; want the view loaded after the change", v, ok)
	}
}

func TestEntitlementCache_NilCachesNothing(t *testing.T) {
	var c *entitlementCache
	c.put("org_a", EntitlementView{}, 0)
	if _, _, ok := c.get("org_a"); ok {
		t.Fatal("nil cache returned a hit")
	}
}

// TestEntitlementCache_ExpiredViewsAreDropped: the cache keeps the orgs read
// within about a TTL, not every org ever read.
func TestEntitlementCache_ExpiredViewsAreDropped(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newEntitlementCache(time.Second, func() time.Time { return now })
	for i := range 10_000 {
		org := "org_" + string(rune('a'+i%26)) + time.Duration(i).String()
		_, epoch, _ := c.get(org)
		c.put(org, EntitlementView{OrgID: org}, epoch)
	}
	now = now.Add(2 * time.Second)
	_, epoch, _ := c.get("org_late")
	c.put("org_late", EntitlementView{OrgID: "org_late"}, epoch)
	if n := len(c.entries); n != 1 {
		t.Fatalf("%d views cached after the others expired, want 1", n)
	}
}
