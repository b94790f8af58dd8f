package main

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
)

// TestReleaseIfFree: after a burst's memory is garbage, releaseIfFree hands
// it back to the OS at once; with little free it does nothing.
func TestReleaseIfFree(t *testing.T) {
	if releaseIfFree(1 << 40) {
		t.Fatal("released with less free than the threshold")
	}
	burst = make([][]byte, 256)
	for i := range burst {
		burst[i] = make([]byte, 1<<20) // like 10,000 polls' buffers, in 1 MiB pieces
		burst[i][0] = 1
	}
	burst = nil // garbage, and no collection has run since: nothing is free yet
	before := released()
	if !releaseIfFree(64 << 20) {
		t.Fatal("256 MiB freed, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB after a 256 MiB burst, want most of it", got>>20)
	}
}

// TestReleaseIfFree_PooledBuffers: buffers of closed connections wait in a
// sync.Pool, which one collection only moves to its victim cache; they are
// handed back all the same.
func TestReleaseIfFree_PooledBuffers(t *testing.T) {
	var pool sync.Pool
	bufs := make([][]byte, 256)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<20)
		bufs[i][0] = 1
	}
	for _, b := range bufs {
		pool.Put(b)
	}
	bufs = nil
	runtime.GC()
	before := released()
	if !releaseIfFree(64 << 20) {
		t.Fatal("256 MiB pooled and unused, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB of 256 MiB pooled, want most of it", got>>20)
	}
	runtime.KeepAlive(&pool)
}

func released() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// burst is global, so that the compiler cannot drop the allocations.
var burst [][]byte
