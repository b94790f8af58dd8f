package httpapi

import (
	"context"
	"net"
	"sync"
	"time"
)

// hangUpCheck is how often held polls' connections are looked at for a
// client that hung up: a poll it left keeps its few KiB that long at most.
const hangUpCheck = 2 * time.Second

// connWatch ends held polls whose client hung up. net/http learns it from a
// read that each connection's goroutine keeps blocked; held polls keep no
// goroutine for that, and one look at each connection every hangUpCheck
// costs less than thousands of them. It runs only while polls are held.
type connWatch struct {
	mu      sync.Mutex
	conns   map[net.Conn]context.CancelFunc
	running bool
}

// watch calls hungUp once conn's client has hung up, until forget(conn).
func (w *connWatch) watch(conn net.Conn, hungUp context.CancelFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns == nil {
		w.conns = make(map[net.Conn]context.CancelFunc)
	}
	w.conns[conn] = hungUp
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *connWatch) forget(conn net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.conns, conn)
}

// run looks at every watched connection each hangUpCheck, and ends when none
// is left.
func (w *connWatch) run() {
	t := time.NewTicker(hangUpCheck)
	defer t.Stop()
	var batch []net.Conn
	for range t.C {
		w.mu.Lock()
		if len(w.conns) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch = batch[:0]
		for c := range w.conns {
			batch = append(batch, c)
		}
		w.mu.Unlock()
		for _, c := range batch {
			if !hungUp(c) {
				continue
			}
			w.mu.Lock()
			cancel := w.conns[c]
			w.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
	}
}
