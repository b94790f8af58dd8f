package billing

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in internal/httpapi; the domain only
// names what went wrong.
const (
	EBadRequest        = "BAD_REQUEST"
	EUnauthorized      = "UNAUTHORIZED"
	EForbidden         = "FORBIDDEN"
	ENotFound          = "NOT_FOUND"
	EMethodNotAllowed  = "METHOD_NOT_ALLOWED"
	EAlreadySubscribed = "ALREADY_SUBSCRIBED"
	EConflict          = "CONFLICT"
	EPayloadTooLarge   = "PAYLOAD_TOO_LARGE"
	EUnsupportedMedia  = "UNSUPPORTED_MEDIA_TYPE"
	ERateLimited       = "RATE_LIMITED"
	EBadSignature      = "BAD_SIGNATURE"
	EUpstream          = "UPSTREAM_ERROR"
	EUnavailable       = "UNAVAILABLE"
	EInternal          = "INTERNAL"
)

// Error is a failure the caller can act on: Code is machine-readable, Message is
// safe to show to a client. Anything that is not an *Error is internal, and its
// details never leave the process.
type Error struct {
	Code    string
	Message string
	// Err is the cause, kept for logs only (e.g. the Stripe error behind EUpstream).
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("billing error: code=%s message=%s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("billing error: code=%s message=%s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the client-safe message of err; internal errors get a
// generic one so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error"
	}
}

// Sentinel errors returned by ports.
var (
	// ErrNotFound is returned by Store and Payments lookups that find nothing.
	ErrNotFound = &Error{Code: ENotFound, Message: "Not found"}
	// ErrDuplicateEvent is returned by Store.RecordEvent when the event id exists.
	ErrDuplicateEvent = errors.New("billing: event already recorded")
)
