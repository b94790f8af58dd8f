package billing

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// MessageType names one of billingd's own events for other services.
type MessageType string

const (
	// MessageEntitlementChanged carries an org's entitlement view after a
	// change of it; its Version orders the messages of one org.
	MessageEntitlementChanged MessageType = "entitlement.changed"
	// MessagePaymentSucceeded and MessagePaymentFailed carry a payment of an
	// org's history when it becomes paid or failed.
	MessagePaymentSucceeded MessageType = "payment.succeeded"
	MessagePaymentFailed    MessageType = "payment.failed"
)

// Message is one of billingd's own events for other services. The writer
// enqueues it (Store.Enqueue) in the transaction of the change it reports, so
// it exists exactly when the change does.
type Message struct {
	// ID is the receivers' dedupe key: minted once, it stays the same on
	// every delivery attempt and to every endpoint.
	ID    string
	Type  MessageType
	OrgID string
	At    time.Time // when billingd made the change
	// Entitlement is set for MessageEntitlementChanged (never with Checkout).
	Entitlement *EntitlementView
	// Payment is set for the payment messages.
	Payment *PaymentView
}

// messageIDEncoding spells message ids in lowercase letters and digits.
var messageIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newMessageID returns "msg_" and 128 random bits: unique without any
// coordination between replicas.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "msg_" + strings.ToLower(messageIDEncoding.EncodeToString(b[:]))
}

// storedPrecision is the precision of the times every supported database
// keeps: a change is timed at it, so that a message says what a read of the
// same change will.
const storedPrecision = time.Microsecond

// entitlementMessage reports v, the org's view after a change, timed when
// the change was written (v.UpdatedAt).
func (s *Service) entitlementMessage(v EntitlementView) Message {
	v.Checkout = nil
	at := s.messageTime()
	if v.UpdatedAt != nil {
		at = *v.UpdatedAt
	}
	return Message{ID: newMessageID(), Type: MessageEntitlementChanged, OrgID: v.OrgID, At: at, Entitlement: &v}
}

// messageTime is now, at the precision a read of the same change shows.
func (s *Service) messageTime() time.Time { return s.now().UTC().Truncate(storedPrecision) }

// paymentMessage reports that an org's payment became p, or nothing when p
// is not payment history.
func (s *Service) paymentMessage(orgID string, p PaymentView) (Message, bool) {
	var typ MessageType
	switch p.Status {
	case PaymentPaid:
		typ = MessagePaymentSucceeded
	case PaymentFailed:
		typ = MessagePaymentFailed
	default:
		return Message{}, false
	}
	return Message{ID: newMessageID(), Type: typ, OrgID: orgID, At: s.messageTime(), Payment: &p}, true
}
