package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

// TestReleaseIfFree: after a burst's memory is garbage, releaseIfFree hands
// it back to the OS at once; with little free it does nothing.
func TestReleaseIfFree(t *testing.T) {
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	if releaseIfFree(1 << 40) {
		t.Fatal("released with less free than the threshold")
	}
	burst = make([][]byte, 256)
	for i := range burst {
		burst[i] = make([]byte, 1<<20) // like 10,000 polls' buffers, in 1 MiB pieces
		burst[i][0] = 1
	}
	burst = nil
	runtime.GC()
	before := released()
	if !releaseIfFree(64 << 20) {
		t.Fatal("256 MiB freed, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB after a 256 MiB burst, want most of it", got>>20)
	}
}

// burst is global, so that the compiler cannot drop the allocations.
var burst [][]byte
