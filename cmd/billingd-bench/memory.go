package main

import (
	"fmt"
	"strings"
)

// idleRSSTarget is the most a replica may hold before any load.
const idleRSSTarget = 40 << 20

// memory reports the resident set of every replica whose process id is known;
// the first replica's idle figure is the one with a target.
func (b *bench) memory(when string) {
	if len(b.pids) == 0 {
		b.add(secMemory, "RSS "+when, "pid unknown (-pid)", targetFor(when), skipped)
		return
	}
	var parts []string
	var first int64
	for i, pid := range b.pids {
		rss, err := rssBytes(pid)
		if err != nil {
			b.logf("RSS of pid %d: %v", pid, err)
			parts = append(parts, "?")
			continue
		}
		if i == 0 {
			first = rss
		}
		parts = append(parts, mib(rss))
	}
	value := strings.Join(parts, " / ")
	b.logf("RSS %s (VmRSS, replica A / B): %s", when, value)
	if when == "idle" {
		b.add(secMemory, "RSS idle (replica A; A / B)", value, targetFor(when), check(first > 0 && first < idleRSSTarget))
		return
	}
	b.add(secMemory, "RSS after load (A / B)", value, targetFor(when), info)
}

func targetFor(when string) string {
	if when == "idle" {
		return fmt.Sprintf("< %d MiB", idleRSSTarget>>20)
	}
	return ""
}
