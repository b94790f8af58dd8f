package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Profiles (-profile DIR): every replica the run starts serves Go's profiles
// on a loopback port of its own (PPROF_ADDR=127.0.0.1:0), and a sampler
// saves, over and over, a CPU profile of each running replica, named after
// the phase it began in, and during the held long-polls also a heap profile.
// Profiling costs the replicas a few per cent, so the figures of such a run
// are not the ones to quote.
const (
	profileSeconds = 5
	pprofLogMsg    = "profiling listening" // billingd's log line with the address
)

// profiler samples the replicas; a nil one does nothing.
type profiler struct {
	dir string

	mu       sync.Mutex
	phase    string
	replicas []*replica
	seq      map[string]int // files written per name prefix
}

func newProfiler(dir string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-profile: %w", err)
	}
	return &profiler{dir: dir, seq: map[string]int{}}, nil
}

// env is what a profiled replica's environment adds.
func (p *profiler) env() []string {
	if p == nil {
		return nil
	}
	return []string{"PPROF_ADDR=127.0.0.1:0"}
}

// add starts sampling r, which must be ready (it has logged its address).
func (p *profiler) add(r *replica) error {
	if p == nil {
		return nil
	}
	addr, err := pprofAddr(r.out.String())
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.pprof = addr
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replicas = append(p.replicas, r)
	return nil
}

// enter names the phase that profiles begun from now on belong to.
func (p *profiler) enter(phase string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
}

// run samples until ctx ends.
func (p *profiler) run(ctx context.Context) {
	if p == nil {
		return
	}
	client := &http.Client{Timeout: (profileSeconds + 10) * time.Second}
	for ctx.Err() == nil {
		p.mu.Lock()
		phase := p.phase
		var live []*replica
		for _, r := range p.replicas {
			select {
			case <-r.done:
			default:
				live = append(live, r)
			}
		}
		p.mu.Unlock()
		if len(live) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		var wg sync.WaitGroup
		for _, r := range live {
			wg.Go(func() {
				p.save(ctx, client, r, phase, "cpu", fmt.Sprintf("profile?seconds=%d", profileSeconds))
				if phase == "held long-polls" {
					p.save(ctx, client, r, phase, "heap", "heap")
				}
			})
		}
		wg.Wait()
	}
}

// save fetches one profile of r into DIR/<phase>.<replica>.<kind>.<n>.pprof;
// a replica that stopped meanwhile leaves no file.
func (p *profiler) save(ctx context.Context, client *http.Client, r *replica, phase, kind, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.pprof+"/debug/pprof/"+path, nil)
	if err != nil {
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
		return
	}
	prefix := fileSafe(phase) + "." + fileSafe(r.name) + "." + kind
	p.mu.Lock()
	p.seq[prefix]++
	name := fmt.Sprintf("%s.%d.pprof", prefix, p.seq[prefix])
	p.mu.Unlock()
	_ = os.WriteFile(filepath.Join(p.dir, name), body, 0o644)
}

// pprofAddr finds the address billingd logged it serves profiles on.
func pprofAddr(log string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == pprofLogMsg && line.Addr != "" {
			return line.Addr, nil
		}
	}
	return "", fmt.Errorf("no %q line with its address in the log (does this billingd read PPROF_ADDR?)", pprofLogMsg)
}

// fileSafe turns a name into a file name part: letters, digits and dashes.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '-'
	}, s)
}
