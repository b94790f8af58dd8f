package store

import (
	"io/fs"
	"reflect"
	"testing"
)

// TestMigrationsAreEmbeddedForEveryDialect checks that each dialect ships the
// same versions, so both databases always have the same schema.
func TestMigrationsAreEmbeddedForEveryDialect(t *testing.T) {
	var want []string
	for dialect, dir := range migrationDirs {
		names, err := fs.Glob(migrations, dir+"/*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: no embedded migrations in %s (err %v)", dialect, dir, err)
		}
		for i := range names {
			names[i] = names[i][len(dir)+1:]
		}
		if want == nil {
			want = names
		} else if !reflect.DeepEqual(names, want) {
			t.Fatalf("%s migrations %v differ from %v", dialect, names, want)
		}
	}
}
