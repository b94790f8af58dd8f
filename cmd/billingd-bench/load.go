package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what a load run measured.
type loadResult struct {
	OK      int             // requests that succeeded inside the measured window
	Failed  int             // requests that failed inside it
	Elapsed time.Duration   // length of the measured window
	Lat     []time.Duration // latencies of the successful requests
	Err     error           // the first failure, for the report
}

func (r loadResult) rate() float64 { return perSecond(r.OK, r.Elapsed) }

// worker sends one request; n counts the requests this worker sent before.
type worker func(ctx context.Context, id, n int) error

// closedLoop runs conns workers that each send one request after another for
// warmup+d. Only requests that complete in the window after warmup are counted.
func closedLoop(ctx context.Context, conns int, warmup, d time.Duration, do worker) loadResult {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+d)
	ctx, cancel := context.WithDeadline(ctx, until.Add(5*time.Second))
	defer cancel()
	results := make([]loadResult, conns)
	var wg sync.WaitGroup
	for id := range conns {
		wg.Go(func() {
			r := &results[id]
			for n := 0; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				err := do(ctx, id, n)
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					continue
				}
				r.record(t1.Sub(t0), err)
			}
		})
	}
	wg.Wait()
	return merge(results, d)
}

// fixedCount sends requests 0…count-1 from conns workers and times the whole run.
func fixedCount(ctx context.Context, conns, count int, do func(ctx context.Context, i int) error) loadResult {
	var next atomic.Int64
	results := make([]loadResult, conns)
	start := time.Now()
	var wg sync.WaitGroup
	for id := range conns {
		wg.Go(func() {
			r := &results[id]
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				t0 := time.Now()
				err := do(ctx, i)
				r.record(time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	return merge(results, time.Since(start))
}

func (r *loadResult) record(d time.Duration, err error) {
	if err != nil {
		r.Failed++
		if r.Err == nil {
			r.Err = err
		}
		return
	}
	r.OK++
	r.Lat = append(r.Lat, d)
}

// merge adds up results measured over elapsed in all.
func merge(rs []loadResult, elapsed time.Duration) loadResult {
	total := loadResult{Elapsed: elapsed}
	for _, r := range rs {
		total.OK += r.OK
		total.Failed += r.Failed
		total.Lat = append(total.Lat, r.Lat...)
		if total.Err == nil {
			total.Err = r.Err
		}
	}
	return total
}

// newLoadClient returns a client that keeps up to conns connections open to
// each host and reuses them (keep-alive), as a load generator should.
func newLoadClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// statusError is a response other than the one expected.
type statusError struct {
	Status int
	Body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("status %d: %.200s", e.Status, strings.TrimSpace(e.Body))
}
