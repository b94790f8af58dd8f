package store

// QueuedWriters is how many writers wait for the writer's turn (SQLite).
func QueuedWriters(s *Store) int {
	q := s.pools.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiters.Len()
}
