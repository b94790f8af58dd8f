package stripe

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// The shapes below read only the fields billingd needs from Stripe objects, and
// read them from where every API version puts them, so that an event of any
// version (and a subscription fetched with stripe-go's pinned one) parses.

// subscriptionJSON is a Stripe subscription.
type subscriptionJSON struct {
	ID                string            `json:"id"`
	Customer          expandableID      `json:"customer"`
	Status            string            `json:"status"`
	Metadata          map[string]string `json:"metadata"`
	CancelAtPeriodEnd bool              `json:"cancel_at_period_end"`
	CancelAt          *int64            `json:"cancel_at"`
	TrialEnd          *int64            `json:"trial_end"`
	// CurrentPeriodEnd is where API versions before basil (2025-03-31) put it;
	// basil moved it to the items.
	CurrentPeriodEnd *int64 `json:"current_period_end"`
	// Plan and Quantity are where old API versions (e.g. 2017-08-15) also put
	// a single-plan subscription's plan and quantity.
	Plan     *planJSON `json:"plan"`
	Quantity int       `json:"quantity"`
	Items    struct {
		Data []subscriptionItemJSON `json:"data"`
	} `json:"items"`
}

type subscriptionItemJSON struct {
	CurrentPeriodEnd *int64 `json:"current_period_end"`
	Quantity         int    `json:"quantity"`
	Price            *struct {
		ID        string `json:"id"`
		LookupKey string `json:"lookup_key"`
		Recurring *struct {
			Interval string `json:"interval"`
		} `json:"recurring"`
	} `json:"price"`
	// Plan is what items of old API versions carry instead of a price; a
	// plan's id is also its price id.
	Plan *planJSON `json:"plan"`
}

type planJSON struct {
	ID       string `json:"id"`
	Interval string `json:"interval"`
}

func (s subscriptionJSON) toBilling() billing.Subscription {
	sub := billing.Subscription{
		ID:                s.ID,
		CustomerID:        string(s.Customer),
		MetadataOrgID:     s.Metadata[billing.OrgMetadataKey],
		Status:            billing.StripeStatus(s.Status),
		TrialEnd:          unixTime(s.TrialEnd),
		CurrentPeriodEnd:  unixTime(s.CurrentPeriodEnd),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CancelAt:          unixTime(s.CancelAt),
		Quantity:          s.Quantity,
	}
	if sub.Status == billing.StatusUnknown {
		sub.RawStatus = s.Status
	}
	plan := s.Plan
	// billingd sells one price per subscription: the first item is the plan.
	if len(s.Items.Data) > 0 {
		item := s.Items.Data[0]
		if item.Quantity != 0 {
			sub.Quantity = item.Quantity
		}
		if end := unixTime(item.CurrentPeriodEnd); end != nil {
			sub.CurrentPeriodEnd = end
		}
		if item.Plan != nil {
			plan = item.Plan
		}
		if p := item.Price; p != nil && p.ID != "" {
			sub.PriceID, sub.LookupKey, plan = p.ID, p.LookupKey, nil
			if p.Recurring != nil {
				sub.Interval = billing.Interval(p.Recurring.Interval)
			}
		}
	}
	if plan != nil {
		sub.PriceID, sub.Interval = plan.ID, billing.Interval(plan.Interval)
	}
	return sub
}

// checkoutSessionJSON is a Stripe Checkout Session.
type checkoutSessionJSON struct {
	ID                string            `json:"id"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	Customer          expandableID      `json:"customer"`
	Subscription      expandableID      `json:"subscription"`
	Status            string            `json:"status"`
	PaymentStatus     string            `json:"payment_status"`
}

func (s checkoutSessionJSON) toBilling() billing.CheckoutObject {
	return billing.CheckoutObject{
		ID:                s.ID,
		ClientReferenceID: s.ClientReferenceID,
		OrgID:             s.Metadata[billing.OrgMetadataKey],
		CustomerID:        string(s.Customer),
		SubscriptionID:    string(s.Subscription),
		Status:            billing.CheckoutStatus(s.Status),
		PaymentStatus:     s.PaymentStatus,
	}
}

// invoiceJSON is a Stripe invoice.
type invoiceJSON struct {
	ID       string            `json:"id"`
	Customer expandableID      `json:"customer"`
	Metadata map[string]string `json:"metadata"`
	// Parent is basil's home of the invoice's subscription.
	Parent *struct {
		SubscriptionDetails *subscriptionDetailsJSON `json:"subscription_details"`
	} `json:"parent"`
	// Subscription and SubscriptionDetails are where versions before basil put them.
	Subscription        expandableID             `json:"subscription"`
	SubscriptionDetails *subscriptionDetailsJSON `json:"subscription_details"`
	AmountDue           int64                    `json:"amount_due"`
	AmountPaid          int64                    `json:"amount_paid"`
	Currency            string                   `json:"currency"`
	// Status is missing in payloads of old API versions (they send paid, closed).
	Status           string `json:"status"`
	HostedInvoiceURL string `json:"hosted_invoice_url"`
	Created          int64  `json:"created"`
}

type subscriptionDetailsJSON struct {
	Subscription expandableID      `json:"subscription"`
	Metadata     map[string]string `json:"metadata"`
}

func (inv invoiceJSON) toBilling() billing.InvoiceObject {
	obj := billing.InvoiceObject{
		ID:               inv.ID,
		CustomerID:       string(inv.Customer),
		SubscriptionID:   string(inv.Subscription),
		AmountDue:        inv.AmountDue,
		AmountPaid:       inv.AmountPaid,
		Currency:         inv.Currency,
		Status:           inv.Status,
		HostedInvoiceURL: inv.HostedInvoiceURL,
		Created:          time.Unix(inv.Created, 0).UTC(),
	}
	if d := inv.SubscriptionDetails; d != nil {
		obj.OrgID = d.Metadata[billing.OrgMetadataKey]
	}
	if inv.Parent != nil && inv.Parent.SubscriptionDetails != nil {
		d := inv.Parent.SubscriptionDetails
		if d.Subscription != "" {
			obj.SubscriptionID = string(d.Subscription)
		}
		if org := d.Metadata[billing.OrgMetadataKey]; org != "" {
			obj.OrgID = org
		}
	}
	// The invoice's own metadata is about this object: it wins.
	if org := inv.Metadata[billing.OrgMetadataKey]; org != "" {
		obj.OrgID = org
	}
	return obj
}

// decodeSubscription reads a subscription object.
func decodeSubscription(raw []byte) (billing.Subscription, error) {
	var s subscriptionJSON
	if err := decodeObject(raw, &s, &s.ID); err != nil {
		return billing.Subscription{}, err
	}
	return s.toBilling(), nil
}

func decodeCheckoutSession(raw []byte) (billing.CheckoutObject, error) {
	var s checkoutSessionJSON
	if err := decodeObject(raw, &s, &s.ID); err != nil {
		return billing.CheckoutObject{}, err
	}
	return s.toBilling(), nil
}

func decodeInvoice(raw []byte) (billing.InvoiceObject, error) {
	var inv invoiceJSON
	if err := decodeObject(raw, &inv, &inv.ID); err != nil {
		return billing.InvoiceObject{}, err
	}
	return inv.toBilling(), nil
}

var errNoObjectID = errors.New("object has no id")

// decodeObject unmarshals raw into v and requires the id it decoded into *id.
func decodeObject(raw []byte, v any, id *string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return err
	}
	if *id == "" {
		return errNoObjectID
	}
	return nil
}

// expandableID is a reference Stripe sends either as an id or, when expanded,
// as the object itself; either way it holds the id.
type expandableID string

func (e *expandableID) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*e = expandableID(id) // null leaves id ""
		return nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*e = expandableID(obj.ID)
	return nil
}

// unixTime converts a Stripe timestamp; null (and 0) is no time.
func unixTime(sec *int64) *time.Time {
	if sec == nil || *sec == 0 {
		return nil
	}
	t := time.Unix(*sec, 0).UTC()
	return &t
}
