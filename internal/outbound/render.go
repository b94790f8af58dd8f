package outbound

import (
	"encoding/json"
	"fmt"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// Render is a message's body, as the contract's EntitlementChangedEvent or
// PaymentEvent spells it. It is rendered once, when the message is enqueued,
// so every attempt and every endpoint gets the same bytes.
func Render(msg billing.Message) ([]byte, error) {
	var body any
	switch {
	case msg.Type == billing.MessageEntitlementChanged && msg.Entitlement != nil:
		body = api.EntitlementChangedEvent{
			Type: api.EntitlementChangedEventType(msg.Type), Timestamp: msg.At.UTC(), Data: api.EntitlementOf(*msg.Entitlement),
		}
	case (msg.Type == billing.MessagePaymentSucceeded || msg.Type == billing.MessagePaymentFailed) && msg.Payment != nil:
		body = api.PaymentEvent{
			Type: api.PaymentEventType(msg.Type), Timestamp: msg.At.UTC(), Data: api.OrganizationPaymentOf(msg.OrgID, *msg.Payment),
		}
	default:
		return nil, fmt.Errorf("outbound: message %s of type %q has no data of its type", msg.ID, msg.Type)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("outbound: render message %s: %w", msg.ID, err)
	}
	return b, nil
}
