package toolchain

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/infraflow/infraflow/internal/testtier"
)

// The catalog's version patterns are checked against what the binaries `make
// tools` built really print, so a release that changes its wording shows up
// here rather than as a "missing" tool in PlatformCheck.
func TestToxiproxyProgramsReportThePinnedVersion(t *testing.T) {
	bin := testtier.PinnedTools(t, "toxiproxy-server and toxiproxy-cli")
	for _, tool := range Catalog() {
		if tool.Name != "toxiproxy-server" && tool.Name != "toxiproxy-cli" {
			continue
		}
		out, err := exec.Command(filepath.Join(bin, tool.Command), tool.Args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s (run `make tools`)", tool.Command, tool.Args, err, out)
		}
		m := tool.VersionPattern.FindStringSubmatch(string(out))
		if m == nil || "v"+m[1] != tool.Expected || tool.Expected != ToxiproxyVersion {
			t.Errorf("%s printed %q: want version %s extracted by %s", tool.Name, out, ToxiproxyVersion, tool.VersionPattern)
		}
	}
	if !slices.Contains(Names(), "toxiproxy-server") || !slices.Contains(Names(), "toxiproxy-cli") {
		t.Errorf("Names() = %v: want both toxiproxy programs, so PlatformCheck reports them", Names())
	}
}
