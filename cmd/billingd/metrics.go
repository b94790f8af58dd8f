package main

import (
	"fmt"

	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/store"
)

// newMetrics returns the process's metrics, with the store's connection pools
// among them.
func newMetrics(st *store.Store) (*metrics.Metrics, error) {
	m := metrics.New()
	err := m.RegisterDB(metrics.WritePool, st.WriterDB())
	if err == nil && st.ReaderDB() != st.WriterDB() {
		err = m.RegisterDB(metrics.ReadPool, st.ReaderDB())
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}
