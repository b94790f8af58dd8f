package httpapi

import (
	"errors"
	"testing"

	"github.com/billingd/billingd/internal/billing"
)

func TestEventTypeLabel(t *testing.T) {
	t.Run("Handled", func(t *testing.T) {
		ev := billing.Event{Type: billing.EventInvoicePaid, Invoice: &billing.InvoiceObject{}}
		if got := eventTypeLabel(ev); got != billing.EventInvoicePaid {
			t.Errorf("label = %q, want %q", got, billing.EventInvoicePaid)
		}
	})
	t.Run("OtherTypesFold", func(t *testing.T) {
		if got := eventTypeLabel(billing.Event{Type: "customer.tax_id.created"}); got != "other" {
			t.Errorf("label = %q, want other", got)
		}
	})
}

func TestEventOutcome(t *testing.T) {
	if got := eventOutcome(billing.EventResult{Outcome: billing.OutcomeStale}, nil); got != billing.OutcomeStale {
		t.Errorf("outcome = %q, want stale", got)
	}
	if got := eventOutcome(billing.EventResult{}, errors.New("database down")); got != billing.OutcomeFailed {
		t.Errorf("outcome on error = %q, want failed", got)
	}
}
