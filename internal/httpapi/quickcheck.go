package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// A quickCheck accepts, without kin-openapi, the requests of one operation
// that ValidateRequest would accept as they are: it costs a few comparisons
// where ValidateRequest decodes every parameter through its schema, on the
// entitlement read that every client polls. It only ever says yes: anything
// it does not vouch for goes to ValidateRequest, so every refusal, its
// message included, is the contract's.
//
// It exists only for operations whose inputs are all optional query and
// header parameters with plain schemas (a string with length bounds, an
// integer with a range), no defaults to fill in, no path parameters and no
// request body; quickCheckFor says which.
type quickCheck struct {
	path    string
	query   []quickParam
	headers []quickParam // canonical names
}

// quickParam is one parameter and the bounds of its plain schema.
type quickParam struct {
	name                 string
	integer              bool // else a string
	minLength, maxLength int  // of a string, in runes; maxLength -1: none
	minimum, maximum     float64
}

// plainSchemaFields are the schema keywords a quickParam knows; a schema
// with any other is not plain. Annotations change nothing.
var plainSchemaFields = map[string]bool{
	"type": true, "minLength": true, "maxLength": true, "minimum": true, "maximum": true,
	"description": true, "example": true, "title": true,
}

// quickCheckFor returns the quick check of route's operation, or nil when it
// has inputs that only ValidateRequest can check.
func quickCheckFor(route *routers.Route) *quickCheck {
	op := route.Operation
	if op == nil || op.RequestBody != nil || len(route.PathItem.Parameters) > 0 || strings.Contains(route.Path, "{") {
		return nil
	}
	q := &quickCheck{path: route.Path}
	for _, ref := range op.Parameters {
		p, ok := quickParamOf(ref.Value)
		if !ok {
			return nil
		}
		switch ref.Value.In {
		case openapi3.ParameterInQuery:
			q.query = append(q.query, p)
		case openapi3.ParameterInHeader:
			p.name = http.CanonicalHeaderKey(p.name)
			q.headers = append(q.headers, p)
		default:
			return nil
		}
	}
	if len(q.query) > 64 { // acceptsQuery's bit set
		return nil
	}
	// A request without any input must be valid, or the contract asks for
	// more (security, say) than these parameters.
	bare, err := http.NewRequestWithContext(context.Background(), route.Method, route.Path, nil)
	if err != nil {
		return nil
	}
	input := &openapi3filter.RequestValidationInput{Request: bare, Route: route, Options: validationOptions}
	if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
		return nil
	}
	return q
}

func quickParamOf(p *openapi3.Parameter) (quickParam, bool) {
	if p == nil || p.Required || p.AllowEmptyValue || p.Content != nil || p.Style != "" || p.Explode != nil ||
		p.Schema == nil || p.Schema.Value == nil {
		return quickParam{}, false
	}
	s := p.Schema.Value
	raw, err := json.Marshal(s)
	if err != nil {
		return quickParam{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return quickParam{}, false
	}
	for f := range fields {
		if !plainSchemaFields[f] {
			return quickParam{}, false
		}
	}
	qp := quickParam{name: p.Name, maxLength: -1, minimum: math.Inf(-1), maximum: math.Inf(1)}
	switch {
	case s.Type.Is(openapi3.TypeString) && s.Min == nil && s.Max == nil:
		if s.MinLength > math.MaxInt32 || (s.MaxLength != nil && *s.MaxLength > math.MaxInt32) {
			return quickParam{}, false
		}
		qp.minLength = int(s.MinLength)
		if s.MaxLength != nil {
			qp.maxLength = int(*s.MaxLength)
		}
	case s.Type.Is(openapi3.TypeInteger) && s.MinLength == 0 && s.MaxLength == nil:
		qp.integer = true
		if s.Min != nil {
			qp.minimum = *s.Min
		}
		if s.Max != nil {
			qp.maximum = *s.Max
		}
	default:
		return quickParam{}, false
	}
	return qp, true
}

// accepts reports whether ValidateRequest would accept r, unchanged. False
// means only that it does not know.
func (q *quickCheck) accepts(r *http.Request) bool {
	// ValidateRequest reads any body, even of a GET, before it looks at security.
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	if r.URL.Path != q.path {
		return false
	}
	return q.acceptsQuery(r.URL.RawQuery) && q.acceptsHeaders(r.Header)
}

// acceptsQuery parses raw as url.ParseQuery would, as long as it has no
// escapes, no '+' and no ';' (which decode or split otherwise): each known
// parameter at most once, with a value its schema accepts.
func (q *quickCheck) acceptsQuery(raw string) bool {
	if raw == "" {
		return true
	}
	if strings.ContainsAny(raw, "%+;") {
		return false
	}
	var seen uint64 // bit i: q.query[i] was given
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		i := q.queryParam(name)
		if i < 0 || seen&(1<<i) != 0 || !q.query[i].accepts(value) {
			return false
		}
		seen |= 1 << i
	}
	return true
}

func (q *quickCheck) queryParam(name string) int {
	for i, p := range q.query {
		if p.name == name {
			return i
		}
	}
	return -1
}

// acceptsHeaders: each header parameter absent, or sent once with a value
// its schema accepts. (A name with no values at all counts as an empty value
// for kin-openapi, which it refuses.)
func (q *quickCheck) acceptsHeaders(h http.Header) bool {
	for _, p := range q.headers {
		values, present := h[p.name]
		if present && (len(values) != 1 || !p.accepts(values[0])) {
			return false
		}
	}
	return true
}

// accepts reports whether the schema accepts v: a string by its length in
// runes (as kin-openapi counts it), an integer only in plain decimal digits.
func (p quickParam) accepts(v string) bool {
	if !p.integer {
		n := utf8.RuneCountInString(v)
		return n >= p.minLength && (p.maxLength < 0 || n <= p.maxLength)
	}
	if v == "" || len(v) > 15 {
		return false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
		n = n*10 + int(v[i]-'0')
	}
	return float64(n) >= p.minimum && float64(n) <= p.maximum
}
