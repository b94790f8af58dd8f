package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/billingd/billingd/internal/auth"
)

// call is one HTTP exchange of the benchmark.
type call struct {
	method, url, token string
	body               []byte
	header             map[string]string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// send performs c and reads the whole body, so that the connection is reused.
func send(ctx context.Context, client *http.Client, c call) (reply, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return reply{}, err
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// expectOK sends c and fails unless the answer is 200.
func expectOK(ctx context.Context, client *http.Client, c call) (reply, error) {
	r, err := send(ctx, client, c)
	if err == nil && r.status != http.StatusOK {
		err = &statusError{Status: r.status, Body: string(r.body)}
	}
	return r, err
}

// envelope is billingd's response envelope, as far as the benchmark reads it.
type envelope[T any] struct {
	Success bool `json:"success"`
	Data    T    `json:"data"`
}

func decode[T any](r reply) (T, error) {
	var env envelope[T]
	err := json.Unmarshal(r.body, &env)
	return env.Data, err
}

// userToken signs a user token of orgID, as the service's clients present it.
func userToken(secret []byte, orgID string, ttl time.Duration) (string, error) {
	return userTokenWith(secret, orgID, ttl, nil)
}

// userTokenWith is userToken with more claims.
func userTokenWith(secret []byte, orgID string, ttl time.Duration, extra map[string]any) (string, error) {
	now := time.Now()
	claims := map[string]any{
		"sub": "user_" + orgID, "org_id": orgID, "email": orgID + "@example.com",
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	maps.Copy(claims, extra)
	return auth.SignHS256(secret, claims)
}
