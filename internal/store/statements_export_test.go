package store

import (
	"gorm.io/gorm"
)

// ObserveStatements calls fn after each statement that s, or a transaction of
// s, runs: its SQL, and the transaction it ran in (nil outside one). Tests
// count with it what an operation costs the database.
func ObserveStatements(s *Store, fn func(sql string, tx any)) error {
	observe := func(db *gorm.DB) {
		var tx any
		if _, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok {
			tx = db.Statement.ConnPool
		}
		fn(db.Statement.SQL.String(), tx)
	}
	cb := s.db.Callback()
	const name = "billingd:observe"
	for _, err := range []error{
		cb.Query().After("gorm:query").Register(name, observe),
		cb.Row().After("gorm:row").Register(name, observe),
		cb.Create().After("gorm:create").Register(name, observe),
		cb.Update().After("gorm:update").Register(name, observe),
		cb.Delete().After("gorm:delete").Register(name, observe),
		cb.Raw().After("gorm:raw").Register(name, observe),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
