// Package outbound is billingd's side of its own events for other services:
// each message is signed the Standard Webhooks way (standardwebhooks.com), so
// receivers verify it with any Standard Webhooks library.
package outbound

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SecretPrefix starts every Standard Webhooks secret; the rest is the key in
// standard base64.
const SecretPrefix = "whsec_"

// Key sizes the Standard Webhooks spec recommends (24 to 64 bytes).
const (
	minKeyBytes = 24
	maxKeyBytes = 64
)

// Signer signs messages with one secret.
type Signer struct {
	wh *standardwebhooks.Webhook
}

// NewSigner checks secret (whsec_ + base64 of a 24–64 byte key) and returns
// its Signer. The error never quotes the secret.
func NewSigner(secret string) (Signer, error) {
	encoded, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return Signer{}, errors.New("must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return Signer{}, errors.New("must be " + SecretPrefix + " followed by standard base64")
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return Signer{}, fmt.Errorf("key must be %d to %d bytes, got %d", minKeyBytes, maxKeyBytes, len(key))
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return Signer{}, err
	}
	return Signer{wh: wh}, nil
}

// Headers are the three headers that carry a message's signature: its id
// (the receiver's dedupe key, the same on every retry), when it was signed,
// and the signature over id, time and body.
func (s Signer) Headers(msgID string, at time.Time, body []byte) (http.Header, error) {
	sig, err := s.wh.Sign(msgID, at, body)
	if err != nil {
		return nil, fmt.Errorf("outbound: sign message %s: %w", msgID, err)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h, nil
}
