package main

import (
	"cmp"
	"fmt"
	"slices"
	"text/tabwriter"
)

// verdict says how a figure compares with its target.
type verdict string

const (
	pass    verdict = "PASS"
	miss    verdict = "MISS"
	info    verdict = "—"
	skipped verdict = "n/a"
)

// section orders the table as the targets are listed, whatever order the
// measurements had to run in.
type section int

const (
	secEntitlement section = iota
	secWebhook
	secEvents
	secHistory
	secCheckout
	secLongPoll
	secHeldPolls
	secSQLite
	secMemory
)

// figure is one row of the final table.
type figure struct {
	section             section
	name, value, target string
	verdict             verdict
}

func (b *bench) add(sec section, name, value, target string, v verdict) {
	b.figures = append(b.figures, figure{sec, name, value, target, v})
}

// check turns a comparison into a verdict.
func check(ok bool) verdict {
	if ok {
		return pass
	}
	return miss
}

func (b *bench) printTable() {
	fmt.Fprintln(b.out)
	w := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tvalue\ttarget\tresult")
	figures := slices.Clone(b.figures)
	slices.SortStableFunc(figures, func(a, b figure) int { return cmp.Compare(a.section, b.section) })
	for _, f := range figures {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.name, f.value, f.target, f.verdict)
	}
	_ = w.Flush()
}

func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }
