// Package apitest checks, in tests, that billingd's HTTP responses keep the
// contract in openapi.yaml: the route and status are documented, and headers
// and body match the documented response. It validates against the spec
// embedded in package api, so it sees exactly what the generated code sees.
//
// It is for tests only and imports nothing of billingd but package api.
package apitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/billingd/billingd/api"
)

// requestIDHeader is sent on every response, whatever the operation and status
// (SPEC §4). The spec cannot mark it required without making every generated
// handler set it, so it is checked here.
const requestIDHeader = "X-Request-Id"

// maxBodyInMessage bounds how much of a failing body a message quotes.
const maxBodyInMessage = 2 << 10

// The contract describes GET /openapi.yaml as a string: the YAML text
// itself. kin-openapi would decode application/yaml into a mapping first;
// here its bytes are validated as the string they are.
func init() {
	openapi3filter.RegisterBodyDecoder("application/yaml", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	})
}

// router matches requests to operations of the embedded spec, on any host.
var router = sync.OnceValues(func() (routers.Router, error) {
	doc, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	// servers is "/": dropping it lets absolute URLs of any test server match.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	return r, nil
})

// ValidateResponse reports through tb.Errorf every way in which the response
// (status, header, body) to req breaks the contract: an undocumented route or
// status, a missing X-Request-Id, a required header missing, or a header or body
// that does not match its schema. Security requirements are not checked.
func ValidateResponse(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if err := CheckResponse(req, status, header, body); err != nil {
		tb.Errorf("%s %s → %d breaks openapi.yaml: %v\nbody: %s",
			req.Method, req.URL.RequestURI(), status, err, quote(body))
	}
}

// ValidateRecorder is ValidateResponse for a response recorded by an
// httptest.ResponseRecorder.
func ValidateRecorder(tb testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	tb.Helper()
	ValidateResponse(tb, req, rec.Code, rec.Header(), rec.Body.Bytes())
}

// CheckResponse returns why the response to req breaks the contract, or nil.
func CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	r, err := router()
	if err != nil {
		return err
	}
	route, pathParams, err := r.FindRoute(req)
	if err != nil {
		return fmt.Errorf("route not documented: %w", err)
	}
	if header.Get(requestIDHeader) == "" {
		return fmt.Errorf("no %s header (every response must carry one)", requestIDHeader)
	}
	response := route.Operation.Responses.Status(status)
	if response == nil || response.Value == nil {
		return fmt.Errorf("status %d not documented for operation %s", status, route.Operation.OperationID)
	}
	if status == http.StatusNotModified {
		// openapi3filter skips 304s entirely.
		return checkNotModified(response.Value, header, body)
	}

	options := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	options.WithCustomSchemaErrorFunc(briefSchemaError)
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
			Options:    options,
		},
		Status:  status,
		Header:  header,
		Options: options,
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(req.Context(), input)
}

// checkNotModified checks a 304: no body, and every required header present.
func checkNotModified(response *openapi3.Response, header http.Header, body []byte) error {
	if len(body) > 0 {
		return fmt.Errorf("304 with a body of %d bytes", len(body))
	}
	for name, h := range response.Headers {
		if h.Value != nil && h.Value.Required && header.Get(name) == "" {
			return fmt.Errorf("304 without required header %s", name)
		}
	}
	return nil
}

// Transport is an http.RoundTripper that validates every response it carries
// with ValidateResponse, reporting to TB. The caller still gets the whole body.
type Transport struct {
	TB   testing.TB
	Base http.RoundTripper // http.DefaultTransport when nil
}

// NewValidatingClient returns an http.Client whose every response is validated
// against the contract; base is the transport to wrap (nil for the default).
// Redirects are followed as usual, and each hop is validated.
func NewValidatingClient(tb testing.TB, base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{TB: tb, Base: base}}
}

// RoundTrip implements http.RoundTripper. It reads the response body in full,
// validates it, and hands the response on with an unread copy of the body.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	closeErr := resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: read response body: %w", err)
	}
	if closeErr != nil {
		return nil, fmt.Errorf("apitest: close response body: %w", closeErr)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ValidateResponse(t.TB, req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// briefSchemaError names the failing field and the reason, without the schema
// and value dumps of the default message (the body is quoted once anyway).
func briefSchemaError(err *openapi3.SchemaError) string {
	if err.Origin != nil {
		return ""
	}
	return fmt.Sprintf("at %q: %s", "/"+strings.Join(err.JSONPointer(), "/"), err.Reason)
}

func quote(body []byte) string {
	if len(body) > maxBodyInMessage {
		return fmt.Sprintf("%s… (%d bytes)", body[:maxBodyInMessage], len(body))
	}
	return string(body)
}
