package main

import (
	"context"
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

// heapFreeMetric is the heap memory that is free and still held from the OS.
const heapFreeMetric = "/memory/classes/heap/free:bytes"

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
// bytes of it are held, and reports whether it did. FreeOSMemory runs a
// collection first; at this pace its cost is small next to what it returns.
func releaseIfFree(threshold uint64) bool {
	sample := []metrics.Sample{{Name: heapFreeMetric}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() < threshold {
		return false
	}
	debug.FreeOSMemory()
	return true
}
