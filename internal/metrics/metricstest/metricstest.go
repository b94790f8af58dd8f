// Package metricstest reads Prometheus scrapes in tests.
package metricstest

import (
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed scrape, by metric family name.
type Scrape map[string]*dto.MetricFamily

// Get scrapes url (a /metrics endpoint) with client, asking for the text format.
func Get(tb testing.TB, client *http.Client, url string) Scrape {
	tb.Helper()
	resp, err := client.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	return Parse(tb, resp.Body)
}

// Parse parses a scrape in the text format.
func Parse(tb testing.TB, r io.Reader) Scrape {
	tb.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		tb.Fatalf("parse scrape: %v", err)
	}
	return families
}

// Has reports whether the scrape has a family called name.
func (s Scrape) Has(name string) bool { return s[name] != nil }

// Value sums the samples of name whose labels include labels, given as name,
// value pairs: counters and gauges by value, histograms by observation count.
// It reports false when no sample matches.
func (s Scrape) Value(name string, labels ...string) (float64, bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
