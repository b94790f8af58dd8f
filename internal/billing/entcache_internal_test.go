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
