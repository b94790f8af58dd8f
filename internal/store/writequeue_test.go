package store

import (
	"context"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
)

func TestWriteQueue(t *testing.T) {
	t.Run("TurnsGoInArrivalOrder", func(t *testing.T) {
		q := newWriteQueue(time.Minute)
		release, err := q.acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		const n = 20
		order := make(chan int, n)
		for i := range n {
			go func() {
				release, err := q.acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				order <- i
				release(true)
			}()
			waitForWaiters(t, q, i+1) // the next one arrives after this one
		}
		release(true)
		for want := range n {
			if got := <-order; got != want {
				t.Fatalf("turn %d went to waiter %d", want, got)
			}
		}
	})
	t.Run("BusyQueueKeepsWaitingPastTheStall", func(t *testing.T) {
		// Writers ahead keep getting answers: waiting longer than the stall
		// in all is queueing, not a hang.
		const stall, hold, ahead = time.Second, 100 * time.Millisecond, 15
		q := newWriteQueue(stall)
		for i := range ahead {
			go func() {
				release, err := q.acquire(context.Background())
				if err == nil {
					time.Sleep(hold)
					release(true)
				}
			}()
			waitForWaiters(t, q, i) // the first is admitted, the others wait
		}
		release, err := q.acquire(t.Context())
		if err != nil {
			t.Fatalf("gave up behind a queue that moves: %v", err)
		}
		release(true)
	})
	t.Run("GivesUpBehindAWriterWithNoAnswer", func(t *testing.T) {
		q := newWriteQueue(100 * time.Millisecond)
		release, err := q.acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.acquire(t.Context())
		if billing.ErrorCode(err) != billing.EUnavailable {
			t.Fatalf("err = %v, want EUnavailable", err)
		}
		release(false)
		// The turn is free again: the one that gave up left the line.
		release, err = q.acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		release(true)
	})
	t.Run("NilQueueAdmitsEveryone", func(t *testing.T) {
		var q *writeQueue
		for range 3 {
			if _, err := q.acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func waitForWaiters(t *testing.T, q *writeQueue, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		got := q.waiters.Len()
		q.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
