package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// contract validates requests against openapi.yaml (the spec embedded in
// package api), so that every limit the contract states is enforced exactly
// as written and nowhere else.
type contract struct {
	router routers.Router
}

func newContract() (*contract, error) {
	doc, err := api.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("httpapi: load the embedded contract: %w", err)
	}
	doc.Servers = nil // match paths on whatever host billingd is reached
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("httpapi: route the embedded contract: %w", err)
	}
	return &contract{router: router}, nil
}

// validationOptions: authentication is requireAuth's job, done before this
// runs; the contract's security schemes only document it.
var validationOptions = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}

// validate refuses a request that breaks the contract with BAD_REQUEST (a
// body that is not JSON: UNSUPPORTED_MEDIA_TYPE; too large:
// PAYLOAD_TOO_LARGE), naming the parameter or field, before its handler or
// rate limit runs. Query defaults of the contract are filled in. A request
// the contract has no operation for goes on to Echo's 404 or 405.
func (ct *contract) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := ct.check(c); err != nil {
			return err
		}
		return next(c)
	}
}

// validateRoute is validate for the requests of one route, method and Echo
// path: those its operation's quick check accepts skip ValidateRequest.
func (ct *contract) validateRoute(method, echoPath string) echo.MiddlewareFunc {
	quick := ct.quickCheck(method, echoPath)
	if quick == nil {
		return ct.validate
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !quick.accepts(c.Request()) {
				if err := ct.check(c); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// quickCheck returns the quick check of the operation at method and Echo
// path, or nil. The contract's router takes an Echo path as a request path:
// a ":name" segment is just a value of the "{name}" parameter there.
func (ct *contract) quickCheck(method, echoPath string) *quickCheck {
	req, err := http.NewRequestWithContext(context.Background(), method, echoPath, nil)
	if err != nil {
		return nil
	}
	route, _, err := ct.router.FindRoute(req)
	if err != nil {
		return nil
	}
	return quickCheckFor(route)
}

// check is validate's work on c's request.
func (ct *contract) check(c echo.Context) error {
	req := c.Request()
	route, pathParams, err := ct.router.FindRoute(req)
	if err != nil {
		return nil
	}
	if route.Operation.RequestBody != nil {
		if err := bufferJSONBody(c); err != nil {
			return err
		}
	}
	input := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: pathParams, Route: route, Options: validationOptions,
	}
	if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
		return describeViolation(err)
	}
	return nil
}

// bufferJSONBody reads the body once, within the limit, checks that it is one
// JSON value whose text PostgreSQL can store, and leaves it readable again for
// validation and binding. These failures get their own codes and messages,
// which a schema error would blur.
func bufferJSONBody(c echo.Context) error {
	req := c.Request()
	mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mediaType != echo.MIMEApplicationJSON {
		return billing.Errorf(billing.EUnsupportedMedia, "Content-Type must be application/json")
	}
	body, err := readLimited(c, maxJSONBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return billing.Errorf(billing.EBadRequest, "Request body is required")
	}
	v, err := decodeOneJSON(body)
	if err != nil {
		return err
	}
	if err := checkStorableJSON(body, v); err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

func decodeOneJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, describeJSONError(err)
	}
	if dec.More() {
		return nil, billing.Errorf(billing.EBadRequest, "Request body has data after the JSON object")
	}
	return v, nil
}

// describeViolation turns a contract violation into a client-safe message
// that names the parameter or the field.
func describeViolation(err error) error {
	bad := func(format string, args ...any) error {
		return &billing.Error{Code: billing.EBadRequest, Message: fmt.Sprintf(format, args...), Err: err}
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return bad("Request does not match the API contract")
	}
	if re.Parameter != nil {
		return bad("%s parameter %q: %s", parameterPlace(re.Parameter.In), re.Parameter.Name, violationReason(re))
	}
	var se *openapi3.SchemaError
	if !errors.As(re.Err, &se) {
		return bad("Request body: %s", violationReason(re))
	}
	path := se.JSONPointer()
	if unknown := unknownField(se); unknown != "" {
		return bad("Unknown field %q", strings.Join(append(path, unknown), "."))
	}
	if len(path) == 0 {
		if se.SchemaField == "type" {
			return bad("Request body must be a JSON object")
		}
		return bad("Request body: %s", se.Reason)
	}
	return bad("Field %q: %s", strings.Join(path, "."), se.Reason)
}

// violationReason is what is wrong, without kin-openapi's wrapping.
func violationReason(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case errors.As(re.Err, &se):
		return se.Reason
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return "is required"
	case errors.As(re.Err, &pe):
		return pe.Reason
	case re.Err != nil:
		return re.Err.Error()
	default:
		return re.Reason
	}
}

// unknownField returns the first (in sorted order) property of the object
// that se is about which its schema does not declare, when se is an
// "additionalProperties: false" failure; "" otherwise.
func unknownField(se *openapi3.SchemaError) string {
	obj, ok := se.Value.(map[string]any)
	if !ok || se.SchemaField != "properties" || se.Schema == nil {
		return ""
	}
	keys := slices.Sorted(maps.Keys(obj))
	for _, k := range keys {
		if _, declared := se.Schema.Properties[k]; !declared {
			return k
		}
	}
	return ""
}

func parameterPlace(in string) string {
	switch in {
	case openapi3.ParameterInQuery:
		return "Query"
	case openapi3.ParameterInHeader:
		return "Header"
	case openapi3.ParameterInPath:
		return "Path"
	default:
		return http.CanonicalHeaderKey(in)
	}
}
