package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/outbound"
	"github.com/billingd/billingd/internal/store"
)

// newQueue is billingd's River client on st's database, made st's outbox:
// from here on every change st stores enqueues its messages through it, for
// each EVENTS_WEBHOOK_URL. work is what the process runs periodically (none
// for one-shot commands). A delivering queue (serve) works deliveries once
// started; one that does not (one-shot commands) only enqueues, and serving
// replicas deliver. telemetry may be nil.
func newQueue(cfg config.Config, st *store.Store, logger *slog.Logger, telemetry *metrics.Metrics, work jobs.Work, delivering bool) (*jobs.Queue, error) {
	events := jobs.Events{Endpoints: cfg.EventsWebhookURLs, Render: outbound.Render}
	if delivering {
		send, err := newSend(cfg)
		if err != nil {
			return nil, err
		}
		events.Deliver = send
		events.Observe = func(d jobs.Delivery, r jobs.DeliveryResult) { telemetry.ObserveDelivery(d.Type, string(r)) }
	}
	q, err := jobs.New(jobs.Config{DB: st.WriterDB(), Dialect: st.Dialect(), Logger: logger, Work: work, Events: events})
	if err != nil {
		return nil, err
	}
	st.SetOutbox(q)
	return q, nil
}

// newSend POSTs a delivery signed with EVENTS_WEBHOOK_SECRET. Without
// endpoints there is no secret, and the queue never sends: it cancels what is
// left for endpoints no longer configured, so it still needs a sender.
func newSend(cfg config.Config) (func(context.Context, jobs.Delivery) error, error) {
	if len(cfg.EventsWebhookURLs) == 0 {
		return func(context.Context, jobs.Delivery) error {
			return errors.New("events: no EVENTS_WEBHOOK_URL is configured")
		}, nil
	}
	signer, err := outbound.NewSigner(cfg.EventsWebhookSecret)
	if err != nil { // config has checked it
		return nil, fmt.Errorf("events: EVENTS_WEBHOOK_SECRET %w", err)
	}
	sender := outbound.NewSender(signer, outbound.SenderOptions{Concurrency: jobs.DeliveryWorkers})
	return func(ctx context.Context, d jobs.Delivery) error {
		return sender.Send(ctx, d.Endpoint, d.MessageID, d.Body)
	}, nil
}
