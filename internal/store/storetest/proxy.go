package storetest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on loopback in front of a database, for tests of what a
// database that hangs does to billingd. Hang makes it a black hole without
// closing anything: bytes on open connections wait in the proxy, and a
// connection opened while it hangs never reaches the database at all, even
// after Resume (a dial into a black hole that never completes). Resume lets
// the bytes of the open connections flow again.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	flow   chan struct{} // closed while bytes flow
	conns  map[net.Conn]struct{}
	closed bool
}

// StartProxy listens on 127.0.0.1:0 and forwards to target (host:port); it is
// closed, with every connection through it, when the test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, flow: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.flow)
	go p.accept()
	tb.Cleanup(p.close)
	return p
}

// ProxiedURL is databaseURL (postgres://…) with its host and port replaced by
// the proxy's.
func (p *Proxy) ProxiedURL(tb testing.TB, databaseURL string) string {
	tb.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		tb.Fatalf("proxy: database URL does not parse")
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Hang stops forwarding bytes; connections stay open.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flowing() {
		p.flow = make(chan struct{})
	}
}

// Resume forwards the held bytes and every later one.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.flowing() {
		close(p.flow)
	}
}

// flowing is called with mu held.
func (p *Proxy) flowing() bool {
	select {
	case <-p.flow:
		return true
	default:
		return false
	}
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			return
		}
		p.conns[client] = struct{}{}
		blackHole := !p.flowing()
		p.mu.Unlock()
		if blackHole {
			// Read and drop what the client sends, so that its close is seen.
			go func() { _, _ = io.Copy(io.Discard, client); p.drop(client) }()
			continue
		}
		go p.forward(client)
	}
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(client)
		return
	}
	p.mu.Lock()
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	done := make(chan struct{})
	end := func() {
		once.Do(func() {
			close(done)
			p.drop(client)
			p.drop(server)
		})
	}
	go func() { p.copy(server, client, done); end() }()
	p.copy(client, server, done)
	end()
}

// copy forwards src to dst, holding each chunk while the proxy hangs.
func (p *Proxy) copy(dst, src net.Conn, done <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			flow := p.flow
			p.mu.Unlock()
			select {
			case <-flow:
			case <-done:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	if !p.flowing() {
		close(p.flow)
	}
	p.mu.Unlock()
	// Best effort: the test is over.
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}
