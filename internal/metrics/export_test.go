package metrics

import "time"

// SetNow replaces the clock of m's scrape-time values; call it before
// RegisterEventBacklog, which takes the clock it finds.
func SetNow(m *Metrics, now func() time.Time) { m.now = now }
