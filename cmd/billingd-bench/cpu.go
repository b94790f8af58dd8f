package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime returns the user+system CPU time process pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(raw))
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/<pid>/stat.
// The command name, field 2, is parenthesised and may hold spaces, so fields
// are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat %.40q", stat)
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed stat %.40q", stat)
	}
	var total time.Duration
	for _, f := range fields[11:13] {
		ticks, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed stat: %w", err)
		}
		total += time.Duration(ticks) * clockTick
	}
	return total, nil
}

// cpuMeter measures the CPU a set of processes uses between start and stop.
// The set is looked up at both ends, so it may be a pool of database
// backends; with no processes it measures nothing.
type cpuMeter struct {
	pids  func() []int
	from  map[int]time.Duration
	total time.Duration
	ok    bool
	// gone counts processes that exited between start and stop: their CPU
	// since start is lost, so total is a lower bound. For a database pool it
	// means connections were closed and reopened under load.
	gone int
}

// newCPUMeter measures process pid; 0 means unknown.
func newCPUMeter(pid int) *cpuMeter {
	return &cpuMeter{pids: func() []int { return []int{pid} }, ok: pid > 0}
}

// newDatabaseCPUMeter measures the local PostgreSQL backends serving database
// name, found by the process titles PostgreSQL gives them.
func newDatabaseCPUMeter(name string) *cpuMeter {
	return &cpuMeter{pids: func() []int { return pidsWithCmdline(" " + name + " ") }, ok: name != ""}
}

func (m *cpuMeter) snapshot() map[int]time.Duration {
	times := map[int]time.Duration{}
	for _, pid := range m.pids() {
		if t, err := cpuTime(pid); err == nil {
			times[pid] = t
		}
	}
	return times
}

func (m *cpuMeter) start() {
	if m.ok {
		m.from = m.snapshot()
	}
}

func (m *cpuMeter) stop() {
	if !m.ok {
		return
	}
	to := m.snapshot()
	if len(to) == 0 {
		m.ok = false
		return
	}
	for pid, t := range to {
		m.total += t - m.from[pid] // a process started since counts whole
	}
	for pid := range m.from {
		if _, ok := to[pid]; !ok {
			m.gone++
		}
	}
}

// perOp renders the CPU used per operation, or "?" when it is unknown.
func (m *cpuMeter) perOp(n int) string {
	if !m.ok || n == 0 {
		return "?"
	}
	v := fmt.Sprintf("%.0f µs", float64(m.total.Microseconds())/float64(n))
	if m.gone > 0 {
		v = fmt.Sprintf("≥ %s (%d exited: pool churn)", v, m.gone)
	}
	return v
}

// pidsWithCmdline lists the processes whose command line contains substr.
func pidsWithCmdline(substr string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(strings.ReplaceAll(string(raw), "\x00", " "), substr) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuText renders a server's CPU per operation, plus its PostgreSQL
// backends' when they were measured.
func cpuText(server, db *cpuMeter, n int) string {
	v := server.perOp(n)
	if db.ok {
		v += " + PostgreSQL " + db.perOp(n)
	}
	return v
}
