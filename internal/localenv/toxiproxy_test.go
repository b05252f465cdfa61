package localenv

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/testtier"
	"github.com/infraflow/infraflow/internal/toolchain"
)

func TestStartToxiproxyAnswersOnItsAPIAndStopFreesThePort(t *testing.T) {
	testtier.PinnedTools(t, "toxiproxy-server")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	started := time.Now()
	tp, err := StartToxiproxy(ctx, dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("toxiproxy API answered %s after start", time.Since(started).Round(time.Millisecond))
	resp, err := http.Get(tp.URL + "/version")
	if err != nil {
		tp.Stop()
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), strings.TrimPrefix(toolchain.ToxiproxyVersion, "v")) {
		t.Errorf("GET /version = %q, want the pinned %s (the build's version ldflag)", body, toolchain.ToxiproxyVersion)
	}

	addr := strings.TrimPrefix(tp.URL, "http://")
	if _, err := StartToxiproxy(ctx, t.TempDir(), addr); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("second server on %s: err = %v, want the address named as in use", addr, err)
	}
	tp.Stop()
	tp.Stop() // a second Stop (deferred cleanups) is harmless
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s still taken after Stop: %v", addr, err)
	}
	_ = l.Close()
	if _, err := os.Stat(filepath.Join(dataDir, "logs", "toxiproxy-server.log")); err != nil {
		t.Errorf("no log under the data directory: %v", err)
	}
}
