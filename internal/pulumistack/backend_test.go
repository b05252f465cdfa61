package pulumistack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/internal/testtier"
)

// backends runs a test on the file backend and on a private PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, backend string)) {
	t.Run("file", func(t *testing.T) { test(t, "file://"+t.TempDir()) })
	t.Run("postgres", func(t *testing.T) {
		testtier.RealTools(t, "PostgreSQL (initdb, postgres)")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pg, err := localenv.StartPostgres(ctx, localenv.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pg.Stop)
		test(t, pg.URL("postgres")+"?sslmode=disable")
	})
}

// Two workers with their own directories share one backend: a stack one of
// them made is seen, planned and reverted to by the other, which finds the
// state, the saved plan and the last good configuration there.
func TestTwoWorkersShareTheBackend(t *testing.T) {
	testtier.PinnedTools(t, "the pulumi CLI")
	programs["shared-echo"] = func(ctx *pulumi.Context) error {
		ctx.Export("replicas", pulumi.Int(config.New(ctx, "").RequireInt("replicas")))
		return nil
	}
	t.Cleanup(func() { delete(programs, "shared-echo") })
	backends(t, func(t *testing.T, backend string) {
		t.Setenv("TMPDIR", t.TempDir())
		b := Env{StateDir: t.TempDir(), Backend: backend, Passphrase: "shared secret", Site: "b"}
		c := Env{StateDir: t.TempDir(), Backend: backend, Passphrase: "shared secret", Site: "c"}
		ref := stackop.Ref{Program: "shared-echo", Stack: "web"}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()

		if ok, err := c.Exists(ctx, ref); ok || err != nil {
			t.Fatalf("Exists before any up = %v, %v", ok, err)
		}
		stack, err := b.Open(ctx, ref, map[string]any{"replicas": 3})
		if err != nil {
			t.Fatal(err)
		}
		planFile, _ := b.NewPlanFile(ref)
		if _, err := Preview(ctx, stack, planFile); err != nil {
			t.Fatal(err)
		}
		saved, err := b.StorePlan(ctx, ref, planFile)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Up(ctx, stack, 0, func(stackop.Progress) {}, ""); err != nil {
			t.Fatal(err)
		}
		Close(stack)

		if names, err := c.Stacks(ctx, ref.Program); err != nil || strings.Join(names, ",") != "web" {
			t.Errorf("c's Stacks = %v, %v; want [web]", names, err)
		}
		if path, err := c.PlanFile(ctx, ref, saved); err != nil {
			t.Errorf("c cannot read the plan b saved: %v", err)
		} else {
			os.Remove(path)
		}
		good, err := c.LastGoodConfig(ctx, ref)
		if err != nil || good["replicas"] != float64(3) {
			t.Errorf("c's LastGoodConfig = %v, %v; want replicas 3 as a number", good, err)
		}
		st, err := c.ReadState(ctx, ref)
		if err != nil || len(st.Pending) != 0 {
			t.Errorf("c's ReadState = %+v, %v", st, err)
		}
		// A failed up is not a good configuration.
		stack, err = c.Open(ctx, ref, map[string]any{"replicas": "not a number"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Up(ctx, stack, 0, func(stackop.Progress) {}, ""); err == nil {
			t.Fatal("an up with replicas that is not a number succeeded")
		}
		Close(stack)
		if good, err := b.LastGoodConfig(ctx, ref); err != nil || good["replicas"] != float64(3) {
			t.Errorf("LastGoodConfig after a failed up = %v, %v; want the last successful one (3)", good, err)
		}

		// A local stack is placed where it is made, and only there is it
		// operated on.
		local := stackop.Ref{Program: "local", Stack: "web"}
		if site, err := c.Place(ctx, local); err != nil || site != "c" {
			t.Errorf("c places a local stack that does not exist at %q, %v; want c itself", site, err)
		}
		if err := b.claimSite(ctx, local); err != nil {
			t.Fatal(err)
		}
		if site, err := c.Place(ctx, local); err != nil || site != "b" {
			t.Errorf("c places the stack b made at %q, %v; want b", site, err)
		}
		if err := c.claimSite(ctx, local); err == nil || !strings.Contains(err.Error(), "lives at site b") {
			t.Errorf("c operating on b's local stack: %v; want it refused, naming site b", err)
		}
	})
}

// A stack held by a live worker is refused to another, naming the holder;
// a holder that dies releases it, and the next holder learns who it was.
func TestAHoldIsReleasedOnlyWhenItsHolderEnds(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		b := Env{StateDir: t.TempDir(), Backend: backend}
		ref := stackop.Ref{Program: "local", Stack: "web"}
		ctx := context.Background()
		held, err := b.Hold(ctx, ref, "worker-b")
		if err != nil {
			t.Fatal(err)
		}
		var heldErr *HeldError
		if _, err := b.Hold(ctx, ref, "worker-c"); !errors.As(err, &heldErr) || heldErr.By.Identity != "worker-b" {
			t.Fatalf("a second hold = %v; want HeldError naming worker-b", err)
		}
		held.Release()
		again, err := b.Hold(ctx, ref, "worker-c")
		if err != nil || again.Previous != nil {
			t.Fatalf("hold after a release = %+v, %v; want one with no previous holder", again, err)
		}
		again.Release()

		// A process that takes the hold and is killed with it.
		helper := exec.Command(os.Args[0])
		helper.Env = append(os.Environ(), "INFRAFLOW_HOLD_HELPER="+backend)
		out, _ := helper.StdoutPipe()
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || lines.Text() != "held" {
			t.Fatalf("helper said %q, %v", lines.Text(), lines.Err())
		}
		if _, err := b.Hold(ctx, ref, "worker-c"); !errors.As(err, &heldErr) || heldErr.By.Identity != "helper" || heldErr.By.PID != helper.Process.Pid {
			t.Fatalf("hold while the helper lives = %v; want HeldError naming the helper", err)
		}
		_ = helper.Process.Signal(syscall.SIGKILL)
		_ = helper.Wait()
		var after *Hold
		deadline := time.Now().Add(30 * time.Second)
		for after, err = b.Hold(ctx, ref, "worker-c"); err != nil && time.Now().Before(deadline); after, err = b.Hold(ctx, ref, "worker-c") {
			time.Sleep(100 * time.Millisecond) // the database notices the closed session
		}
		if err != nil {
			t.Fatalf("hold after the holder died: %v", err)
		}
		defer after.Release()
		if after.Previous == nil || after.Previous.Identity != "helper" || after.Previous.PID != helper.Process.Pid {
			t.Errorf("previous holder %+v; want the helper that died holding it", after.Previous)
		}
	})
}

// TestMain doubles as the holder process of
// TestAHoldIsReleasedOnlyWhenItsHolderEnds: started with
// INFRAFLOW_HOLD_HELPER set, the test binary holds a stack until it is killed.
func TestMain(m *testing.M) {
	if backend := os.Getenv("INFRAFLOW_HOLD_HELPER"); backend != "" {
		if _, err := (Env{Backend: backend}).Hold(context.Background(), stackop.Ref{Program: "local", Stack: "web"}, "helper"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// Recovery removes a Pulumi lock only when its writer is provably gone: a
// process of this machine that no longer runs, or one on the machine of the
// worker that died holding the stack. Any other is refused and left.
func TestRecoveryBreaksOnlyOrphanedLocks(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		env := Env{StateDir: t.TempDir(), Backend: backend}
		ref := stackop.Ref{Program: "local", Stack: "web"}
		ctx := context.Background()
		s, err := storeOf(ctx, env.backendURL())
		if err != nil {
			t.Fatal(err)
		}
		host, _ := os.Hostname()
		dead := exec.Command("true")
		_ = dead.Run()
		lock := func(id, host string, pid int) string {
			key := ".pulumi/locks/organization/infraflow-local/web/" + id + ".json"
			if err := s.write(ctx, key, []byte(`{"pid":`+strconv.Itoa(pid)+`,"username":"root","hostname":"`+host+`","timestamp":"2026-12-01T00:00:00Z"}`), false); err != nil {
				t.Fatal(err)
			}
			return key
		}
		exists := func(key string) bool { _, err := s.read(ctx, key); return err == nil }

		here := lock("here", host, dead.Process.Pid)
		other := lock("other", "machine-b", 4242)
		unrelated := ".pulumi/locks/organization/infraflow-local/web-2/x.json"
		_ = s.write(ctx, unrelated, []byte(`{"pid":1,"hostname":"machine-z"}`), false)

		var locked *LockedError
		did, err := env.breakOrphanedLocks(ctx, ref, &Hold{})
		if len(did) != 1 || !strings.Contains(did[0], "which is gone") {
			t.Errorf("reported %q; want this machine's dead process's lock removed", did)
		}
		if !errors.As(err, &locked) || locked.Lock.Hostname != "machine-b" {
			t.Fatalf("with no dead holder on machine-b: %v (did %v); want LockedError naming machine-b", err, did)
		}
		if !exists(other) {
			t.Error("the lock of machine-b, whose writer may live, was removed")
		}
		did, err = env.breakOrphanedLocks(ctx, ref, &Hold{Previous: &Holder{Identity: "worker-b", Host: "machine-b"}})
		if err != nil {
			t.Fatalf("with worker-b of machine-b dead holding the stack: %v", err)
		}
		if exists(here) || exists(other) || !exists(unrelated) {
			t.Errorf("locks left: here %v, other %v, another stack's %v; want only another stack's", exists(here), exists(other), exists(unrelated))
		}
		if len(did) != 1 || !strings.Contains(did[0], "whose worker worker-b died holding the stack") {
			t.Errorf("reported %q", did)
		}
	})
}
