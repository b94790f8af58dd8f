package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/internal/billing"
)

// Body limits of SPEC §4.
const (
	maxJSONBody    = 64 << 10
	maxWebhookBody = 1 << 20
)

// strictJSONBinder decodes a body that the contract check (validate) has
// already found to be JSON, within the limit and matching openapi.yaml. It
// still refuses unknown fields, so a drift between the contract and the
// generated types fails loudly instead of dropping data.
type strictJSONBinder struct{}

func (strictJSONBinder) Bind(i any, c echo.Context) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(i); err != nil {
		return describeJSONError(err)
	}
	return nil
}

// readLimited reads the whole body, or fails with EPayloadTooLarge past limit.
func readLimited(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	if req.ContentLength > limit {
		return nil, billing.Errorf(billing.EPayloadTooLarge, "Request body is larger than %d KiB", limit>>10)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, billing.Errorf(billing.EPayloadTooLarge, "Request body is larger than %d KiB", limit>>10)
	}
	if err != nil {
		return nil, &billing.Error{Code: billing.EBadRequest, Message: "Could not read the request body", Err: err}
	}
	return body, nil
}

func describeJSONError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return billing.Errorf(billing.EBadRequest, "Malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return billing.Errorf(billing.EBadRequest, "Malformed JSON: the body ends too early")
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return billing.Errorf(billing.EBadRequest, "Request body must be a JSON object")
		}
		return billing.Errorf(billing.EBadRequest, "Field %q must be %s", field, jsonKind(typeErr.Type.Kind().String()))
	default:
		// encoding/json reports unknown fields as `json: unknown field "x"`.
		return billing.Errorf(billing.EBadRequest, "Invalid request body: %s", trimJSONPrefix(err.Error()))
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return fmt.Sprintf("of another type (%s)", goKind)
	}
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
