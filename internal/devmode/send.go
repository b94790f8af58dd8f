package devmode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// maxAnswer bounds how much of billingd's answer to a webhook is read.
const maxAnswer = 1 << 20

// Delivery is one event sent to billingd's webhook endpoint and what billingd
// answered.
type Delivery struct {
	Type    string `json:"type"`    // the event's type, e.g. checkout.session.completed
	EventID string `json:"eventId"` // the event's id, evt_…
	Status  int    `json:"status"`  // billingd's HTTP status
	// Outcome is what billingd did with it: applied, duplicate, stale,
	// unknown_org or ignored; "" when the answer was not a 200 or named none.
	Outcome string `json:"outcome"`
	// Message is the error message of an answer that was not a 200.
	Message string `json:"message,omitempty"`
}

// OK reports whether billingd accepted the event (whatever it did with it).
func (d Delivery) OK() bool { return d.Status == http.StatusOK }

// Send delivers one event the way Stripe does: it signs payload with the
// endpoint's secret (Stripe-Signature), POSTs it to url and reads billingd's
// answer. A nil client is http.DefaultClient. The error is only for an event
// that could not be delivered; any answer, a refusal included, is a Delivery.
func Send(ctx context.Context, client *http.Client, url, secret string, payload []byte) (Delivery, error) {
	var sent struct{ ID, Type string }
	if err := json.Unmarshal(payload, &sent); err != nil {
		return Delivery{}, fmt.Errorf("devmode: the payload is not a Stripe event: %w", err)
	}
	d := Delivery{Type: sent.Type, EventID: sent.ID}
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return d, fmt.Errorf("devmode: send %s: %w", d.Type, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", stripeevent.Sign(payload, secret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return d, fmt.Errorf("devmode: send %s to %s: %w", d.Type, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return d, fmt.Errorf("devmode: read billingd's answer to %s: %w", d.Type, err)
	}
	d.Status = resp.StatusCode
	d.Outcome, d.Message = readAnswer(resp.StatusCode, body)
	return d, nil
}

// readAnswer reads billingd's envelope: the outcome of a 200, the error message
// of anything else. An answer that is no envelope (a proxy's, a wrong URL's)
// is quoted as it is.
func readAnswer(status int, body []byte) (outcome, message string) {
	var env struct {
		Success bool `json:"success"`
		Data    struct {
			Outcome   string `json:"outcome"`
			Duplicate bool   `json:"duplicate"`
		} `json:"data"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	isEnvelope := json.Unmarshal(body, &env) == nil
	switch {
	case status == http.StatusOK && env.Data.Outcome == "" && env.Data.Duplicate:
		return string(billing.OutcomeDuplicate), "" // a billingd that predates outcome
	case status == http.StatusOK:
		return env.Data.Outcome, ""
	case isEnvelope && env.Error.Message != "":
		return "", env.Error.Message
	case len(bytes.TrimSpace(body)) > 0:
		return "", shorten(strings.TrimSpace(string(body)), 200)
	default:
		return "", http.StatusText(status)
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
