package httpapi

import (
	"context"
	"log/slog"
)

// LogHandler wraps h so that records logged with a request's context carry
// its request id and, once the caller is authenticated, its org id: the
// service and the Stripe adapter log with the context and need not know either.
func LogHandler(h slog.Handler) slog.Handler { return contextHandler{h} }

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if p, ok := principalFrom(ctx); ok && p.OrgID != "" && !hasAttr(r, "org_id") {
		r.AddAttrs(slog.String("org_id", p.OrgID))
	}
	return h.Handler.Handle(ctx, r)
}

// hasAttr reports whether r already has a top-level attribute key: a record
// that names an org itself (a service token reading another org, a webhook)
// keeps its own, and JSON gets no duplicate key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
