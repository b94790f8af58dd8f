package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// codes maps each billing error code to its HTTP status: the only such table.
var codes = map[string]int{
	billing.EBadRequest:        http.StatusBadRequest,
	billing.EUnauthorized:      http.StatusUnauthorized,
	billing.EForbidden:         http.StatusForbidden,
	billing.ENotFound:          http.StatusNotFound,
	billing.EMethodNotAllowed:  http.StatusMethodNotAllowed,
	billing.EAlreadySubscribed: http.StatusConflict,
	billing.EConflict:          http.StatusConflict,
	billing.EPayloadTooLarge:   http.StatusRequestEntityTooLarge,
	billing.EUnsupportedMedia:  http.StatusUnsupportedMediaType,
	billing.ERateLimited:       http.StatusTooManyRequests,
	billing.EBadSignature:      http.StatusBadRequest,
	billing.EUpstream:          http.StatusBadGateway,
	billing.EUnavailable:       http.StatusServiceUnavailable,
	billing.EInternal:          http.StatusInternalServerError,
}

// errorStatus returns the HTTP status of a billing error code.
func errorStatus(code string) int {
	if s, ok := codes[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// fromEchoError turns Echo's own errors (no route, bad parameter, body limit)
// into billing errors, so that every error reaches the client in one envelope.
func fromEchoError(he *echo.HTTPError) *billing.Error {
	msg := fmt.Sprint(he.Message)
	switch he.Code {
	case http.StatusNotFound:
		return billing.Errorf(billing.ENotFound, "Route not found")
	case http.StatusMethodNotAllowed: // Echo has set Allow
		return billing.Errorf(billing.EMethodNotAllowed, "Method not allowed on this path; see the Allow header")
	case http.StatusRequestEntityTooLarge:
		return billing.Errorf(billing.EPayloadTooLarge, "Request body is too large")
	case http.StatusUnsupportedMediaType:
		return billing.Errorf(billing.EUnsupportedMedia, "Content-Type must be application/json")
	case http.StatusUnauthorized:
		return billing.Errorf(billing.EUnauthorized, "Authentication required")
	case http.StatusBadRequest:
		return &billing.Error{Code: billing.EBadRequest, Message: msg, Err: he.Internal}
	default:
		return &billing.Error{Code: billing.EInternal, Message: "Internal error", Err: he}
	}
}

// handleError is Echo's HTTPErrorHandler: it writes the error envelope. Only
// internal errors are logged in full; their details never reach the client.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		err = fromEchoError(he)
	}
	status, body := s.errorResponse(c.Request().Context(), err, c.Response().Header())
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "writing error response failed", slog.Any("err", err))
	}
}

// errorResponse is err's status and SPEC §4 envelope. It logs what operators
// must see and sets on h the headers the status needs.
func (s *Server) errorResponse(ctx context.Context, err error, h http.Header) (int, api.ErrorResponse) {
	code, msg := billing.ErrorCode(err), billing.ErrorMessage(err)
	status := errorStatus(code)
	switch {
	case status >= 500:
		s.log.ErrorContext(ctx, "request failed", "code", code, "status", status, "err", err)
	case code == billing.EUnauthorized:
		s.log.InfoContext(ctx, "request rejected", "code", code, "status", status, "reason", err)
	}
	if code == billing.EUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="billingd"`)
	}
	return status, api.ErrorResponse{Success: false, Error: api.ErrorDetail{Code: api.ErrorCode(code), Message: msg, RequestId: RequestIDFrom(ctx)}}
}
