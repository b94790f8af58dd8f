package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// defaultDevDir is where dev mode keeps its state, relative to where it runs:
// delete the directory to start over.
const defaultDevDir = ".billingd-dev"

// devSecretsFile holds the secrets dev mode generated on its first run, so
// that tokens and signed webhooks made for one run still verify in the next.
const devSecretsFile = "secrets.json"

// devSecrets are dev mode's generated secrets.
type devSecrets struct {
	JWTSecret     string `json:"jwtSecret"`     // AUTH_JWT_SECRET
	WebhookSecret string `json:"webhookSecret"` // STRIPE_WEBHOOK_SECRET
}

// devDatabaseURL is dev mode's SQLite file inside dir.
func devDatabaseURL(dir string) string {
	return "sqlite:" + filepath.Join(dir, "billingd.db")
}

// loadOrCreateDevSecrets returns the secrets kept in dir, generating and
// saving them (readable by the owner only) on the first run. created says
// whether this run made them.
func loadOrCreateDevSecrets(dir string) (s devSecrets, created bool, err error) {
	s, err = readDevSecrets(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return devSecrets{}, false, fmt.Errorf("billingd dev: create %s: %w", dir, err)
	}
	s = devSecrets{JWTSecret: randomHex(32), WebhookSecret: "whsec_" + randomHex(24)}
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, devSecretsFile), append(b, '\n'), 0o600); err != nil {
		return devSecrets{}, false, fmt.Errorf("billingd dev: save secrets: %w", err)
	}
	return s, true, nil
}

// readDevSecrets returns the secrets kept in dir; an error wrapping
// fs.ErrNotExist when dev mode never ran there.
func readDevSecrets(dir string) (devSecrets, error) {
	b, err := os.ReadFile(filepath.Join(dir, devSecretsFile))
	if err != nil {
		return devSecrets{}, fmt.Errorf("billingd dev: %w (run `billingd dev` here first, or pass -dir)", err)
	}
	var s devSecrets
	if err := json.Unmarshal(b, &s); err != nil || s.JWTSecret == "" || s.WebhookSecret == "" {
		return devSecrets{}, fmt.Errorf("billingd dev: %s is damaged; delete %s to start over", filepath.Join(dir, devSecretsFile), dir)
	}
	return s, nil
}
