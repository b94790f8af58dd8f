package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/billingd/billingd/api"
)

// entitlementOK is GetEntitlement's 200, written as the generated
// api.GetEntitlement200JSONResponse writes it (the same headers and, byte for
// byte, the body encoding/json makes of it) without reflection and into a
// pooled buffer: it is the answer of the commonest request billingd gets.
// TestEntitlementJSONIsEncodingJSONs holds the two bodies equal.
type entitlementOK api.GetEntitlement200JSONResponse

var _ api.GetEntitlementResponseObject = entitlementOK{}

// jsonBuffers are the buffers entitlement bodies are written into; a body
// is a few hundred bytes.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (r entitlementOK) VisitGetEntitlementResponse(w http.ResponseWriter) error {
	buf := jsonBuffers.Get().(*[]byte)
	defer jsonBuffers.Put(buf)
	body, ok := appendEntitlementResponse((*buf)[:0], r.Body)
	if !ok {
		// What encoding/json alone knows how to say: its error.
		return api.GetEntitlement200JSONResponse(r).VisitGetEntitlementResponse(w)
	}
	*buf = body
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", r.Headers.ETag)
	if r.Headers.XRequestId != nil {
		h.Set("X-Request-Id", *r.Headers.XRequestId)
	}
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// appendEntitlementResponse appends what json.Encoder.Encode writes for r,
// final newline included, or reports false for a value encoding/json would
// refuse (a time outside years 0 to 9999).
func appendEntitlementResponse(b []byte, r api.EntitlementResponse) ([]byte, bool) {
	b = append(b, `{"data":`...)
	b, ok := appendEntitlement(b, r.Data)
	b = append(b, `,"success":`...)
	b = strconv.AppendBool(b, bool(r.Success))
	return append(b, "}\n"...), ok
}

// appendEntitlement appends e as encoding/json does: fields in the order of
// api.Entitlement, with its tags.
func appendEntitlement(b []byte, e api.Entitlement) ([]byte, bool) {
	ok := true
	field := func(b []byte, name string, t *time.Time) []byte {
		b = append(b, name...)
		var fine bool
		b, fine = appendJSONTime(b, t)
		ok = ok && fine
		return b
	}
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, e.Active)
	b = field(b, `,"cancelAt":`, e.CancelAt)
	b = append(b, `,"cancelAtPeriodEnd":`...)
	b = strconv.AppendBool(b, e.CancelAtPeriodEnd)
	if c := e.Checkout; c != nil {
		b = append(b, `,"checkout":{"ready":`...)
		b = strconv.AppendBool(b, c.Ready)
		b = append(b, `,"sessionId":`...)
		b = appendJSONString(b, c.SessionId)
		b = append(b, `,"status":`...)
		b = appendJSONString(b, string(c.Status))
		b = append(b, '}')
	}
	b = field(b, `,"currentPeriodEnd":`, e.CurrentPeriodEnd)
	b = append(b, `,"features":`...)
	if e.Features == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, f := range e.Features {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f)
		}
		b = append(b, ']')
	}
	b = append(b, `,"organizationId":`...)
	b = appendJSONString(b, e.OrganizationId)
	b = append(b, `,"plan":`...)
	b = appendJSONString(b, e.Plan)
	b = append(b, `,"seats":`...)
	b = strconv.AppendInt(b, int64(e.Seats), 10)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(e.Status))
	b = field(b, `,"trialEndsAt":`, e.TrialEndsAt)
	b = field(b, `,"updatedAt":`, e.UpdatedAt)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, e.Version, 10)
	return append(b, '}'), ok
}

// appendJSONTime appends t as time.Time.MarshalJSON does, null for nil, or
// reports false where MarshalJSON fails (AppendText is its unquoted text).
func appendJSONTime(b []byte, t *time.Time) ([]byte, bool) {
	if t == nil {
		return append(b, "null"...), true
	}
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(b, '"'), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does with HTML escaping
// (its default): <, > and & as \u00XX, invalid UTF-8 as \ufffd, and U+2028
// and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
