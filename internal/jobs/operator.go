package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// What an operator asks of the deliveries: how far behind they are, which
// ones died, and to try one of those again.

// unfinishedStates are the states of a job that may still be attempted.
var unfinishedStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// backlogCountSQL counts the messages of unfinished deliveries and batches,
// by dialect: a batch holds several (River stores args as JSONB on both).
var backlogCountSQL = map[string]string{
	Postgres: backlogCount("jsonb_array_length(args->'messages')"),
	SQLite:   backlogCount("json_array_length(args, '$.messages')"),
}

func backlogCount(batchLength string) string {
	return `SELECT coalesce(sum(CASE kind WHEN '` + deliveryKind + `' THEN 1 ELSE ` + batchLength + ` END), 0)
		FROM river_job WHERE kind IN ('` + deliveryKind + `', '` + deliveryBatchKind + `')
		AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')`
}

// deliveryKinds are the job kinds that carry messages.
var deliveryKinds = []string{deliveryKind, deliveryBatchKind}

// Backlog returns how many messages' deliveries are not finished yet
// (waiting, running or to be retried) and when the oldest of them was queued (zero
// when there is none).
func (q *Queue) Backlog(ctx context.Context) (depth int, oldest time.Time, err error) {
	if err := q.db.QueryRowContext(ctx, backlogCountSQL[q.dialect]).Scan(&depth); err != nil {
		return 0, time.Time{}, fmt.Errorf("jobs: backlog: %w", err)
	}
	res, err := q.client.JobList(ctx, river.NewJobListParams().
		Kinds(deliveryKinds...).States(unfinishedStates...).
		OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(1))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("jobs: backlog: %w", err)
	}
	if len(res.Jobs) > 0 {
		oldest = res.Jobs[0].CreatedAt
	}
	return depth, oldest, nil
}

// DeadDelivery is a delivery that River discarded after its last attempt
// failed. A batch is discarded only if it could never hand its messages on
// (batch.go): each of them is then listed, under the batch's job id.
type DeadDelivery struct {
	JobID     int64
	MessageID string
	Type      string
	OrgID     string
	Endpoint  string
	Attempts  int
	LastError string
	// FinalizedAt is when the last attempt failed.
	FinalizedAt time.Time
}

// maxListed is the most jobs River lists at once.
const maxListed = 10_000

// DeadDeliveries returns up to limit (1 to 10,000) dead deliveries, the
// most recently failed first. River deletes them after discardedRetention.
func (q *Queue) DeadDeliveries(ctx context.Context, limit int) ([]DeadDelivery, error) {
	if limit < 1 || limit > maxListed {
		return nil, fmt.Errorf("jobs: dead deliveries: limit %d is not between 1 and %d", limit, maxListed)
	}
	res, err := q.client.JobList(ctx, river.NewJobListParams().
		Kinds(deliveryKinds...).States(rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, fmt.Errorf("jobs: dead deliveries: %w", err)
	}
	dead := make([]DeadDelivery, 0, len(res.Jobs))
	for _, job := range res.Jobs {
		ds, err := jobDeliveries(job)
		if err != nil {
			return nil, fmt.Errorf("jobs: dead delivery %d: %w", job.ID, err)
		}
		for _, d := range ds {
			dead = append(dead, toDeadDelivery(job, d))
		}
	}
	return dead[:min(len(dead), limit)], nil
}

// jobDeliveries are the deliveries a delivery or batch job carries.
func jobDeliveries(job *rivertype.JobRow) ([]Delivery, error) {
	if job.Kind == deliveryKind {
		var d Delivery
		err := json.Unmarshal(job.EncodedArgs, &d)
		return []Delivery{d}, err
	}
	var b deliveryBatch
	if err := json.Unmarshal(job.EncodedArgs, &b); err != nil {
		return nil, err
	}
	ds := make([]Delivery, len(b.Messages))
	for i := range ds {
		ds[i] = b.delivery(i)
	}
	return ds, nil
}

func toDeadDelivery(job *rivertype.JobRow, d Delivery) DeadDelivery {
	dead := DeadDelivery{
		JobID: job.ID, MessageID: d.MessageID, Type: d.Type, OrgID: d.OrgID, Endpoint: d.Endpoint,
		Attempts: job.Attempt,
	}
	if n := len(job.Errors); n > 0 {
		dead.LastError = job.Errors[n-1].Error
	}
	if job.FinalizedAt != nil {
		dead.FinalizedAt = *job.FinalizedAt
	}
	return dead
}

// RetryDelivery makes the dead or dropped delivery jobID available to be
// attempted again at once, for one more attempt. Any other job, a delivery
// in another state included, is an error saying why.
func (q *Queue) RetryDelivery(ctx context.Context, jobID int64) error {
	job, err := q.client.JobGet(ctx, jobID)
	if err != nil {
		return retryError(jobID, err)
	}
	if !slices.Contains(deliveryKinds, job.Kind) {
		return fmt.Errorf("jobs: retry delivery: job %d is a %s job, not an event delivery", jobID, job.Kind)
	}
	// Only a delivery that ended without reaching its endpoint: one already
	// delivered would reach it twice, one still unfinished is retried anyway.
	if job.State != rivertype.JobStateDiscarded && job.State != rivertype.JobStateCancelled {
		return fmt.Errorf("jobs: retry delivery: job %d is %s, not dead or dropped: nothing to retry", jobID, job.State)
	}
	if _, err := q.client.JobRetry(ctx, jobID); err != nil {
		return retryError(jobID, err) // also when River pruned it since JobGet
	}
	return nil
}

func retryError(jobID int64, err error) error {
	if errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("jobs: retry delivery: no such job %d: %w", jobID, err)
	}
	return fmt.Errorf("jobs: retry delivery %d: %w", jobID, err)
}
