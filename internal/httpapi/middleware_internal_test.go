package httpapi

import (
	"regexp"
	"strings"
	"testing"
)

// saneRequestIDPattern is the contract's XRequestId header, 1 to 128
// characters of [A-Za-z0-9._-]: what saneRequestID checks by hand.
var saneRequestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

var requestIDCases = []string{
	"", "a", "req_0123456789abcdef", "A-Z.a_z-0.9", strings.Repeat("x", 128), strings.Repeat("x", 129),
	"with space", "new\nline", "tab\t", "semi;colon", "slash/", "é", "\x00", "trailing\n", "ok\xff",
}

func TestSaneRequestIDIsTheContractsPattern(t *testing.T) {
	for _, id := range requestIDCases {
		if got, want := saneRequestID(id), saneRequestIDPattern.MatchString(id); got != want {
			t.Errorf("saneRequestID(%q) = %t, the pattern says %t", id, got, want)
		}
	}
}

func FuzzSaneRequestID(f *testing.F) {
	for _, id := range requestIDCases {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := saneRequestID(id), saneRequestIDPattern.MatchString(id); got != want {
			t.Errorf("saneRequestID(%q) = %t, the pattern says %t", id, got, want)
		}
	})
}

func TestNewRequestID(t *testing.T) {
	a, b := newRequestID(), newRequestID()
	if !saneRequestID(a) || !strings.HasPrefix(a, "req_") || len(a) != len("req_")+24 || a == b {
		t.Errorf("newRequestID() = %q then %q, want distinct req_ and 24 hex digits", a, b)
	}
}
