package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/outbound"
)

// The receiver must take what billingd's own sender sends, and only that.
func TestReceiver(t *testing.T) {
	secret := newEventsSecret()
	recv, err := startReceiver(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := recv.close(); err != nil {
			t.Error(err)
		}
	})
	signer, err := outbound.NewSigner(secret)
	if err != nil {
		t.Fatalf("the receiver's secret is not one billingd takes: %v", err)
	}
	sender := outbound.NewSender(signer, outbound.SenderOptions{})
	send := func(t *testing.T, id, org string, version int64) error {
		t.Helper()
		body, err := outbound.Render(billing.Message{
			ID: id, Type: billing.MessageEntitlementChanged, OrgID: org, At: time.Now(),
			Entitlement: &billing.EntitlementView{OrgID: org, Plan: "pro", Status: billing.StatusActive, Version: version},
		})
		if err != nil {
			t.Fatal(err)
		}
		return sender.Send(t.Context(), recv.URL, id, body)
	}

	t.Run("OK", func(t *testing.T) {
		recv.expect([]delivered{{"org_1", 1}, {"org_1", 2}})
		if err := send(t, "msg_1", "org_1", 1); err != nil {
			t.Fatal(err)
		}
		if err := send(t, "msg_2", "org_1", 2); err != nil {
			t.Fatal(err)
		}
		if err := recv.await(t.Context(), time.Second, func(c receiverCounts) bool { return c.pending == 0 }); err != nil {
			t.Fatal(err)
		}
		if _, ok := recv.arrival(delivered{"org_1", 2}); !ok || recv.newestOf("org_1") != 2 {
			t.Fatalf("org_1 version 2 not recorded; newest %d", recv.newestOf("org_1"))
		}
	})
	t.Run("Redelivery", func(t *testing.T) {
		before, _ := recv.snapshot()
		if err := send(t, "msg_1", "org_1", 1); err != nil {
			t.Fatal(err)
		}
		if err := send(t, "msg_3", "org_1", 1); err != nil {
			t.Fatal(err)
		}
		after, _ := recv.snapshot()
		if after.duplicates != before.duplicates+1 || after.sameChange != before.sameChange+1 || after.messages != before.messages+1 {
			t.Fatalf("counts %+v after %+v; want one redelivery and one second message for one change", after, before)
		}
	})
	t.Run("ErrSignature", func(t *testing.T) {
		other, _ := outbound.NewSigner(newEventsSecret())
		err := outbound.NewSender(other, outbound.SenderOptions{}).Send(t.Context(), recv.URL, "msg_x", []byte(`{"type":"entitlement.changed"}`))
		var de *outbound.DeliveryError
		if !errors.As(err, &de) || de.StatusCode != http.StatusBadRequest {
			t.Fatalf("send with another key: %v; want 400", err)
		}
		if c, _ := recv.snapshot(); c.rejected != 1 {
			t.Fatalf("rejected %d, want 1", c.rejected)
		}
	})
	t.Run("ErrIdle", func(t *testing.T) {
		err := recv.await(context.Background(), 20*time.Millisecond, func(receiverCounts) bool { return false })
		if !errors.Is(err, errReceiverIdle) {
			t.Fatalf("await = %v, want %v", err, errReceiverIdle)
		}
	})
}
