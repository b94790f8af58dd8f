package notify

import (
	"context"
	"testing"
	"time"
)

func TestLocal(t *testing.T) {
	t.Run("NotifyWakesSubscribersOfThatOrgOnly", func(t *testing.T) {
		l := NewLocal()
		a, stopA := l.Subscribe("org_a")
		defer stopA()
		b, stopB := l.Subscribe("org_b")
		defer stopB()

		l.Notify(context.Background(), "org_a")
		select {
		case <-a:
		case <-time.After(time.Second):
			t.Fatal("subscriber of org_a was not woken")
		}
		select {
		case <-b:
			t.Fatal("subscriber of org_b was woken by org_a's notification")
		default:
		}
	})
	t.Run("NotifyNeverBlocksOnUndrainedSubscriber", func(t *testing.T) {
		l := NewLocal()
		_, stop := l.Subscribe("org_a")
		defer stop()
		done := make(chan struct{})
		go func() {
			for range 100 {
				l.Notify(context.Background(), "org_a")
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatal("Notify blocked")
		}
	})
	t.Run("StopUnsubscribes", func(t *testing.T) {
		l := NewLocal()
		_, stop := l.Subscribe("org_a")
		if got := l.Waiters(); got != 1 {
			t.Fatalf("Waiters = %d, want 1", got)
		}
		stop()
		if got := l.Waiters(); got != 0 {
			t.Fatalf("Waiters after stop = %d, want 0", got)
		}
	})
}

func TestLocal_NotifyAllWakesEveryOrg(t *testing.T) {
	l := NewLocal()
	a, stopA := l.Subscribe("org_a")
	defer stopA()
	b, stopB := l.Subscribe("org_b")
	defer stopB()
	l.NotifyAll()
	for name, ch := range map[string]<-chan struct{}{"org_a": a, "org_b": b} {
		select {
		case <-ch:
		default:
			t.Errorf("subscriber of %s was not woken", name)
		}
	}
}
