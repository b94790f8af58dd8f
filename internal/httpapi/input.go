package httpapi

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/billing"
)

// Text that PostgreSQL cannot store — a NUL byte, or bytes that are not
// UTF-8 — is refused with BAD_REQUEST before any handler or query sees it,
// wherever a request carries it: the path, the query, a header billingd
// reads, or a string (or key) of a JSON body. Otherwise the database refuses
// it mid-request and the caller gets a 500.
//
// Two inputs are left to their owners: an unusable Authorization header is
// requireAuth's 401 like any other bad token (auth refuses NULs in claims),
// and an X-Request-Id that is not sane is replaced, never echoed. The
// webhook's body is checked by nothing here: its signature covers the raw
// bytes, which must reach the verifier untouched.

const unstorableReason = "must be UTF-8 text without NUL bytes"

// textHeaders are the headers whose values billingd uses as text, spelled
// canonically: they are looked up in the header map directly.
var textHeaders = []string{"Idempotency-Key", "If-None-Match"}

// storable reports whether PostgreSQL can store s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// refuseUnstorable refuses a request whose path, query or text headers
// PostgreSQL could not store. It runs for every route, before auth.
func refuseUnstorable(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := checkStorableRequest(c.Request()); err != nil {
			return err
		}
		return next(c)
	}
}

func checkStorableRequest(r *http.Request) error {
	// Path is the decoded form of every segment, so it covers each path
	// parameter whichever way Echo reads it.
	if !storable(r.URL.Path) {
		return unstorable("Path")
	}
	if !queryStorable(r.URL.RawQuery) {
		return unstorableQuery(r.URL.Query())
	}
	for _, name := range textHeaders {
		for _, v := range r.Header[name] {
			if !storable(v) {
				return unstorable(fmt.Sprintf("Header %q", name))
			}
		}
	}
	return nil
}

// queryStorable reports whether every name and value of the raw query decodes
// to storable text. Without a percent escape, each decodes to a piece of the
// raw query split at '&' and '=' (with '+' as a space), so it is enough to
// look at the raw query; a query with escapes is not answered here.
func queryStorable(raw string) bool {
	return raw == "" || (strings.IndexByte(raw, '%') < 0 && storable(raw))
}

// unstorableQuery names the first (in sorted order) query parameter that
// PostgreSQL could not store, if any.
func unstorableQuery(query url.Values) error {
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if !storable(name) {
			return unstorable("Query parameter names")
		}
		for _, v := range query[name] {
			if !storable(v) {
				return unstorable(fmt.Sprintf("Query parameter %q", name))
			}
		}
	}
	return nil
}

// checkStorableJSON refuses a JSON body that is not UTF-8 (encoding/json would
// quietly turn such bytes into U+FFFD) or whose decoded value v holds a NUL
// in a string or a key (the \u0000 escape).
func checkStorableJSON(raw []byte, v any) error {
	if !utf8.Valid(raw) {
		return unstorable("Request body")
	}
	if path, ok := findNUL(v, nil); ok {
		if len(path) == 0 {
			return unstorable("Request body")
		}
		return unstorable(fmt.Sprintf("Field %q", strings.Join(path, ".")))
	}
	return nil
}

// findNUL returns the path to the first string or key of v holding a NUL,
// keys in sorted order so that the answer is always the same.
func findNUL(v any, path []string) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return path, strings.IndexByte(v, 0) >= 0
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if strings.IndexByte(k, 0) >= 0 {
				return path, true
			}
			if p, ok := findNUL(v[k], append(path, k)); ok {
				return p, true
			}
		}
	case []any:
		for i, item := range v {
			if p, ok := findNUL(item, append(path, strconv.Itoa(i))); ok {
				return p, true
			}
		}
	}
	return nil, false
}

func unstorable(what string) error {
	return billing.Errorf(billing.EBadRequest, "%s %s", what, unstorableReason)
}
