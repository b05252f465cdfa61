package pulumistack

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// CheckBackend counts the stacks a backend holds (their state files, not the
// backups and attributes beside them), and names a PostgreSQL's version.
func TestCheckBackendCountsTheStacksItHolds(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		env := Env{StateDir: t.TempDir(), Backend: backend}
		before, err := env.CheckBackend(ctx)
		if err != nil || before.Stacks != 0 {
			t.Fatalf("empty backend: %+v, %v; want 0 stacks", before, err)
		}
		s, err := storeOf(ctx, backend)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"infraflow-local/dev.json", "infraflow-local/dev.json.bak", "infraflow-local/dev.json.attrs", "infraflow-aws/prod.json.gz"} {
			if err := s.write(ctx, ".pulumi/stacks/"+key, []byte("{}"), false); err != nil {
				t.Fatal(err)
			}
		}
		got, err := env.CheckBackend(ctx)
		if err != nil || got.Stacks != 2 || got.URL != RedactBackend(backend) {
			t.Fatalf("CheckBackend = %+v, %v; want 2 stacks at %s", got, err, RedactBackend(backend))
		}
		if wantPostgres := strings.HasPrefix(backend, "postgres"); wantPostgres != (got.Kind == BackendPostgres) ||
			wantPostgres != regexp.MustCompile(`^\d+\.\d+$`).MatchString(got.Server) {
			t.Errorf("kind %q server %q for %s; want postgres with its version (15.14), or file without one", got.Kind, got.Server, RedactBackend(backend))
		}
	})
}
