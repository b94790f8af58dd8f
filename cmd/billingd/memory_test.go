package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
)

// connections are goroutines standing in for open connections: a burst
// opens many, and its end closes them.
type connections struct {
	wg   sync.WaitGroup
	stop chan struct{}
}

// openConnections also hands back what earlier tests left free, so that
// each test starts from a heap with nothing free.
func openConnections(n int) *connections {
	debug.FreeOSMemory()
	c := &connections{stop: make(chan struct{})}
	for range n {
		c.wg.Go(func() { <-c.stop })
	}
	return c
}

func (c *connections) close() {
	close(c.stop)
	c.wg.Wait()
}

// allocate makes n MiB of heap, like 10,000 polls' buffers, in 1 MiB pieces.
func allocate(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<20)
		bufs[i][0] = 1
	}
	return bufs
}

// TestMemoryReturner_AfterABurst: once a burst's connections close, its
// memory is garbage no collection has found yet; it is handed back at once.
func TestMemoryReturner_AfterABurst(t *testing.T) {
	r := &memoryReturner{threshold: 64 << 20}
	conns := openConnections(2000)
	burst = allocate(256)
	runtime.GC() // the burst's memory is live at the last collection
	if r.check() {
		t.Fatal("released while the burst is still on")
	}
	burst = nil
	conns.close() // garbage, and no collection has run since: nothing is free yet
	before := released()
	if !r.check() {
		t.Fatal("256 MiB garbage after the burst, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB after a 256 MiB burst, want most of it", got>>20)
	}
}

// TestMemoryReturner_PooledBuffers: buffers of closed connections wait in a
// sync.Pool, which one collection only moves to its victim cache; they are
// handed back all the same.
func TestMemoryReturner_PooledBuffers(t *testing.T) {
	r := &memoryReturner{threshold: 64 << 20}
	conns := openConnections(2000)
	r.check()
	var pool sync.Pool
	for _, b := range allocate(256) {
		pool.Put(b)
	}
	conns.close()
	before := released()
	if !r.check() {
		t.Fatal("256 MiB pooled and unused after the burst, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB of 256 MiB pooled, want most of it", got>>20)
	}
	runtime.KeepAlive(&pool)
}

// TestMemoryReturner_NoCollectionWhileConnectionsStay: with the connections
// still open, garbage is left to the collector's own pace: a forced
// collection over their live heap would slow every request.
func TestMemoryReturner_NoCollectionWhileConnectionsStay(t *testing.T) {
	r := &memoryReturner{threshold: 64 << 20}
	conns := openConnections(2000)
	defer conns.close()
	burst = allocate(128)
	runtime.GC()
	r.check()
	burst = nil // garbage, not yet collected
	gcs := collections()
	if r.check() {
		t.Error("released while the connections stay open")
	}
	runtime.GC() // the collector's own pace found it: free now, but still nothing forced
	gcs++
	if r.check() {
		t.Error("released while the connections stay open")
	}
	if n := collections() - gcs; n != 0 {
		t.Errorf("%d collections forced while the connections stay open", n)
	}
}

// TestMemoryReturner_HeldPollsAreConnections: held long-polls keep no
// goroutine, yet their end is a burst's end too.
func TestMemoryReturner_HeldPollsAreConnections(t *testing.T) {
	held := 2000
	r := &memoryReturner{threshold: 64 << 20, held: func() int { return held }}
	debug.FreeOSMemory()
	burst = allocate(256)
	runtime.GC()
	if r.check() {
		t.Fatal("released while the polls are held")
	}
	burst = nil
	gcs := collections()
	if r.check() {
		t.Fatal("released while the polls are held")
	}
	if n := collections() - gcs; n != 0 {
		t.Fatalf("%d collections forced while the polls are held", n)
	}
	held = 0
	before := released()
	if !r.check() {
		t.Fatal("256 MiB garbage after the held polls ended, yet nothing released")
	}
	if got := released() - before; got < 128<<20 {
		t.Fatalf("released %d MiB after a 256 MiB burst, want most of it", got>>20)
	}
}

func TestMemoryReturner_LittleFree(t *testing.T) {
	r := &memoryReturner{threshold: 1 << 40}
	if r.check() {
		t.Fatal("released with less free than the threshold")
	}
}

func released() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func collections() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// burst is global, so that the compiler cannot drop the allocations.
var burst [][]byte
