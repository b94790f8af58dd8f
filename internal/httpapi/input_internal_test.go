package httpapi

import (
	"net/http"
	"net/url"
	"testing"
)

var rawQueries = []string{
	"", "wait=1", "a=b&c=d", "a+b=c+d", "a=%00", "a=%ff", "%zz=1", "a=\x00", "a=\xff", "\xff=1",
	"a;b=c", "a=é", "&&", "=", "a==b",
}

// queryStorable, which looks at the raw query only, vouches for no query
// whose decoded names and values unstorableQuery would refuse.
func TestQueryStorableAgreesWithDecoding(t *testing.T) {
	for _, raw := range rawQueries {
		assertQueryStorableAgrees(t, raw)
	}
}

func FuzzQueryStorable(f *testing.F) {
	for _, raw := range rawQueries {
		f.Add(raw)
	}
	f.Fuzz(assertQueryStorableAgrees)
}

func assertQueryStorableAgrees(t *testing.T, raw string) {
	if !queryStorable(raw) {
		return
	}
	query, _ := url.ParseQuery(raw) // as r.URL.Query() does, errors dropped
	if err := unstorableQuery(query); err != nil {
		t.Errorf("queryStorable(%q) = true, but decoded: %v", raw, err)
	}
}

func TestTextHeadersAreCanonical(t *testing.T) {
	for _, name := range textHeaders {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("text header %q is spelled %q in a header map", name, c)
		}
	}
}
