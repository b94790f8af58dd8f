package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/store"
)

// The stores this package opens record what billing enqueues in a table of
// their own, inside the caller's transaction, as River's outbox does in
// production: a rolled-back change leaves no message. Messages reads them.

const outboxTable = "storetest_outbox"

// recordingOutbox is store.Outbox over outboxTable.
type recordingOutbox struct{ dialect string }

func (o recordingOutbox) InsertTx(ctx context.Context, tx *sql.Tx, msgs []billing.Message) error {
	insert := "INSERT INTO " + outboxTable + " (message) VALUES (?)"
	if o.dialect == store.DialectPostgres {
		insert = "INSERT INTO " + outboxTable + " (message) VALUES ($1)"
	}
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insert, string(b)); err != nil {
			return fmt.Errorf("storetest: record message: %w", err)
		}
	}
	return nil
}

// recordMessages creates outboxTable and makes s enqueue into it.
func recordMessages(tb testing.TB, s *store.Store) {
	tb.Helper()
	ddl := "CREATE TABLE " + outboxTable + " (seq INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL)"
	if s.Dialect() == store.DialectPostgres {
		ddl = "CREATE TABLE " + outboxTable + " (seq BIGSERIAL PRIMARY KEY, message TEXT NOT NULL)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.WriterDB().ExecContext(ctx, ddl); err != nil {
		tb.Fatalf("storetest: create outbox table: %v", err)
	}
	s.SetOutbox(recordingOutbox{dialect: s.Dialect()})
}

// Messages returns every message committed on s's database so far, in the
// order they were enqueued. s must come from this package.
func Messages(tb testing.TB, s *store.Store) []billing.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := s.ReaderDB().QueryContext(ctx, "SELECT message FROM "+outboxTable+" ORDER BY seq")
	if err != nil {
		tb.Fatalf("storetest: read messages: %v", err)
	}
	defer rows.Close()
	var out []billing.Message
	for rows.Next() {
		var raw string
		var m billing.Message
		if err := rows.Scan(&raw); err != nil {
			tb.Fatalf("storetest: read messages: %v", err)
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			tb.Fatalf("storetest: decode message: %v", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("storetest: read messages: %v", err)
	}
	return out
}
