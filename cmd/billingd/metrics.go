package main

import (
	"fmt"

	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/store"
)

// newMetrics returns the process's metrics, with the store's connection pool
// among them.
func newMetrics(st *store.Store) (*metrics.Metrics, error) {
	m := metrics.New()
	db, err := st.SQLDB()
	if err == nil {
		err = m.RegisterDB(db)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}
