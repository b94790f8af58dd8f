package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// maxBodyBytes bounds what a delivery may make us read; billingd's events are
// a few hundred bytes.
const maxBodyBytes = 1 << 20

// event is the envelope of every message billingd sends.
type event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"` // when billingd made the change
	Data      json.RawMessage `json:"data"`
}

// entitlement is the part of an entitlement.changed's data this example uses.
type entitlement struct {
	OrganizationID string `json:"organizationId"`
	Plan           string `json:"plan"`
	Status         string `json:"status"`
	Version        int64  `json:"version"`
}

// payment is the part of a payment.succeeded / payment.failed's data this
// example uses. Amount is in minor units of Currency (cents for usd).
type payment struct {
	OrganizationID string `json:"organizationId"`
	InvoiceID      string `json:"invoiceId"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
}

// receiver verifies billingd's signed events and applies each one once.
type receiver struct {
	wh  *standardwebhooks.Webhook
	log *slog.Logger

	// In memory for the example. A real receiver stores the seen ids and the
	// versions in its own database, in the same transaction as the effect of
	// the message, so that a crash can neither lose an effect nor apply it twice.
	mu       sync.Mutex
	seen     map[string]bool  // webhook-ids already handled
	versions map[string]int64 // organizationId → version of the entitlement we hold
}

// newReceiver returns a receiver for secret (whsec_ + base64 key, the value of
// billingd's EVENTS_WEBHOOK_SECRET) that logs one line per message to out.
func newReceiver(secret string, out io.Writer) (*receiver, error) {
	key, ok := strings.CutPrefix(secret, "whsec_")
	if !ok || key == "" {
		return nil, errors.New("the secret must be whsec_ followed by a base64 key")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, errors.New("the key after whsec_ is not standard base64")
	}
	return &receiver{
		wh: wh, log: slog.New(slog.NewTextHandler(out, nil)),
		seen: map[string]bool{}, versions: map[string]int64{},
	}, nil
}

// ServeHTTP handles one delivery. Any 2xx tells billingd it is delivered;
// anything else makes it retry the same message (same webhook-id) later.
func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := r.Header.Get(standardwebhooks.HeaderWebhookID)
	log := rc.log.With("webhook_id", id)

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		reject(w, log, http.StatusRequestEntityTooLarge, "body over 1 MiB", err)
		return
	}
	if err != nil {
		reject(w, log, http.StatusBadRequest, "unreadable body", err)
		return
	}
	// Verify checks the signature over id, timestamp and body, and refuses
	// timestamps more than 5 minutes away: a replayed old delivery fails here.
	if err := rc.wh.Verify(body, r.Header); err != nil {
		reject(w, log, http.StatusBadRequest, "invalid signature", err)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		reject(w, log, http.StatusBadRequest, "invalid event", err)
		return
	}

	// One lock around check, effect and mark: two concurrent deliveries of
	// the same message cannot both apply it.
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen[id] {
		log.Info("already handled; acknowledged again")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := rc.apply(log, ev); err != nil {
		reject(w, log, http.StatusBadRequest, "invalid "+ev.Type+" data", err)
		return
	}
	rc.seen[id] = true
	w.WriteHeader(http.StatusNoContent)
}

// apply is the effect of one verified, not yet seen event.
func (rc *receiver) apply(log *slog.Logger, ev event) error {
	switch ev.Type {
	case "entitlement.changed":
		var e entitlement
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return err
		}
		// Deliveries may arrive out of order: keep only what is newer.
		if held, ok := rc.versions[e.OrganizationID]; ok && e.Version <= held {
			log.Info(fmt.Sprintf("%s: dropped version %d, already at %d", e.OrganizationID, e.Version, held))
			return nil
		}
		rc.versions[e.OrganizationID] = e.Version
		log.Info(fmt.Sprintf("%s is on plan %s (%s, version %d)", e.OrganizationID, e.Plan, e.Status, e.Version))
	case "payment.succeeded", "payment.failed":
		var p payment
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			return err
		}
		log.Info(fmt.Sprintf("%s: %s, invoice %s, %d %s (minor units)", p.OrganizationID, ev.Type, p.InvoiceID, p.Amount, p.Currency))
	default:
		// Newer billingd versions may send more types: acknowledge them.
		log.Info("ignored event of unknown type " + ev.Type)
	}
	return nil
}

// reject answers code and logs why. A non-2xx makes billingd retry, so only
// deliveries that are not billingd's own, or not readable, end here.
func reject(w http.ResponseWriter, log *slog.Logger, code int, reason string, err error) {
	log.Warn("rejected: "+reason, "status", code, "err", err)
	http.Error(w, reason, code)
}
