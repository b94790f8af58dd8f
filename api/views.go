package api

import (
	"time"

	"github.com/billingd/billingd/internal/billing"
)

// The contract's shapes of billing's views, in one place: the HTTP API
// answers them and billingd's own events carry them, so a receiver sees
// exactly what a GET returns.

// EntitlementOf is v as the contract spells it.
func EntitlementOf(v billing.EntitlementView) Entitlement {
	out := Entitlement{
		OrganizationId: v.OrgID, Plan: v.Plan, Status: SubscriptionStatus(v.Status), Active: v.Active,
		Seats: v.Seats, Features: v.Features, TrialEndsAt: utc(v.TrialEnd), CurrentPeriodEnd: utc(v.CurrentPeriodEnd),
		CancelAtPeriodEnd: v.CancelAtPeriodEnd, CancelAt: utc(v.CancelAt), Version: v.Version, UpdatedAt: utc(v.UpdatedAt),
	}
	if out.Features == nil {
		out.Features = []string{}
	}
	if c := v.Checkout; c != nil {
		out.Checkout = &CheckoutReadiness{SessionId: c.SessionID, Status: CheckoutStatus(c.Status), Ready: c.Ready}
	}
	return out
}

// PaymentOf is p as the contract spells it.
func PaymentOf(p billing.PaymentView) Payment {
	out := Payment{
		InvoiceId: p.InvoiceID, Amount: p.Amount, Currency: p.Currency,
		Status: PaymentStatus(p.Status), CreatedAt: p.CreatedAt.UTC(),
	}
	if p.HostedInvoiceURL != "" {
		out.HostedInvoiceUrl = &p.HostedInvoiceURL
	}
	return out
}

// OrganizationPaymentOf is p, a payment of orgID, as events carry it.
func OrganizationPaymentOf(orgID string, p billing.PaymentView) OrganizationPayment {
	v := PaymentOf(p)
	return OrganizationPayment{
		OrganizationId: orgID, InvoiceId: v.InvoiceId, Amount: v.Amount, Currency: v.Currency,
		Status: OrganizationPaymentStatus(v.Status), HostedInvoiceUrl: v.HostedInvoiceUrl, CreatedAt: v.CreatedAt,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
