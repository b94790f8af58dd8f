package billing

// BatchedEvents is how many events svc applied in batches of more than one.
func BatchedEvents(svc *Service) int {
	svc.batches.mu.Lock()
	defer svc.batches.mu.Unlock()
	return svc.batches.batched
}

// SetEventBatchLeaders sets how many batches run at once, so that a test's
// events queue into batches.
func SetEventBatchLeaders(svc *Service, n int) {
	svc.batches.mu.Lock()
	defer svc.batches.mu.Unlock()
	svc.batches.leads = n
}
