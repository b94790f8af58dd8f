package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Handing memory back after a burst. When 10,000 long-polls end, their
// stacks and buffers are garbage, but Go's background scavenger returns the
// freed pages to the OS over minutes, so a replica would stay at its peak RSS
// long after the peak, close to its memory limit. Once a burst ends, what it
// held is returned at once.
const (
	// freedMemoryCheck is often enough to see a burst that lasts a few
	// seconds; a check reads three runtime metrics, about a microsecond.
	freedMemoryCheck = time.Second
	// freedMemoryThreshold is the heap held (objects and free memory) below
	// which a burst's end is not worth a collection: an idle replica's is
	// about 15 MiB.
	freedMemoryThreshold = 64 << 20
)

// Runtime metrics the check reads: heap memory that is free and still held
// from the OS, heap memory holding objects (live, or garbage not collected
// yet), and goroutines, one or two per open connection.
const (
	heapFreeMetric    = "/memory/classes/heap/free:bytes"
	heapObjectsMetric = "/memory/classes/heap/objects:bytes"
	goroutinesMetric  = "/sched/goroutines:goroutines"
)

// returnFreedMemory checks every interval until ctx ends; held counts the
// long-polls held apart from any goroutine (httpapi.Lifecycle.Held).
func returnFreedMemory(ctx context.Context, interval time.Duration, threshold uint64, held func() int) {
	r := &memoryReturner{threshold: threshold, held: held}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		}
	}
}

// memoryReturner hands the heap memory of a burst of connections back to the
// OS once the burst ends.
//
// When a burst ends, its memory is not free yet: it is garbage, and with the
// heap far below the goal the burst set, no collection may run for minutes.
// A burst of connections ending shows as the goroutines and the held
// long-polls (which have no goroutine while they wait) dropping to half
// their peak; then it collects, and FreeOSMemory collects again, which also
// drops what the first collection only moved to sync.Pool's victim caches
// (net/http's buffers of every closed connection), and returns what is
// free. While the connections stay open it does nothing: a collection over
// 10,000 held polls' heap would slow every request meanwhile, to find
// little, and what the collector frees at its own pace the runtime's
// scavenger returns in the background.
type memoryReturner struct {
	threshold uint64
	held      func() int // nil: none
	peak      uint64     // most goroutines and held polls seen since a burst last ended
}

// check runs once, and reports whether it returned memory.
func (r *memoryReturner) check() bool {
	sample := []metrics.Sample{{Name: heapFreeMetric}, {Name: heapObjectsMetric}, {Name: goroutinesMetric}}
	metrics.Read(sample)
	free, objects, open := sample[0].Value.Uint64(), sample[1].Value.Uint64(), sample[2].Value.Uint64()
	if r.held != nil {
		open += uint64(r.held())
	}
	r.peak = max(r.peak, open)
	if ended := 2*open <= r.peak; !ended || free+objects < r.threshold {
		return false
	}
	runtime.GC() // FreeOSMemory's own collection then empties the victim caches
	debug.FreeOSMemory()
	r.peak = open
	return true
}
