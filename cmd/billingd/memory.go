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
// long after the peak, close to its memory limit. Once much is free, it is
// returned at once.
const (
	freedMemoryCheck     = 10 * time.Second
	freedMemoryThreshold = 64 << 20 // bytes free in the heap and not yet returned
)

// Heap metrics the check reads: memory that is free and still held from the
// OS, and memory holding objects, live or garbage not yet collected.
const (
	heapFreeMetric    = "/memory/classes/heap/free:bytes"
	heapObjectsMetric = "/memory/classes/heap/objects:bytes"
)

// returnFreedMemory checks every interval until ctx ends.
func returnFreedMemory(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			releaseIfFree(threshold)
		}
	}
}

// releaseIfFree returns free heap memory to the OS when more than threshold
// bytes of it are held, and reports whether it did.
//
// When a burst ends, its memory is not free yet: it is garbage, and with the
// heap far below the goal the burst set, no collection may run for minutes.
// So once the heap's objects and free memory exceed threshold, it collects
// first. FreeOSMemory then collects again, which also drops what the first
// collection only moved to sync.Pool's victim caches (net/http's buffers of
// every closed connection), and returns the free memory. An idle replica's
// heap is well below threshold, so this costs nothing then; under load it is
// one or two collections per interval.
func releaseIfFree(threshold uint64) bool {
	sample := []metrics.Sample{{Name: heapFreeMetric}, {Name: heapObjectsMetric}}
	metrics.Read(sample)
	if sample[0].Value.Uint64()+sample[1].Value.Uint64() < threshold {
		return false
	}
	if sample[0].Value.Uint64() < threshold {
		runtime.GC()
		metrics.Read(sample[:1])
		if sample[0].Value.Uint64() < threshold {
			return false
		}
	}
	debug.FreeOSMemory()
	return true
}
