package pulumistack

import (
	"slices"
	"testing"

	"github.com/infraflow/infraflow/internal/procs"
)

// Plugins whose pulumi CLI died with the worker are found by the state
// directory in their environment; a live operation's plugins, and other
// state directories', are left alone.
func TestOrphanedPluginsAreThoseOfThisStateWithoutTheirCLI(t *testing.T) {
	ours, theirs := "PULUMI_BACKEND_URL=file:///data/pulumi/state", "PULUMI_BACKEND_URL=file:///other/pulumi/state"
	list := []procs.Process{
		{PID: 10, PPID: 1, Args: []string{"/root/.pulumi/plugins/resource-infraflow-v0.1.0/pulumi-resource-infraflow", "127.0.0.1:1"}},
		{PID: 11, PPID: 20, Args: []string{"pulumi-resource-infraflow", "127.0.0.1:2"}},
		{PID: 12, PPID: 1, Args: []string{"pulumi-resource-infraflow", "127.0.0.1:3"}},
		{PID: 13, PPID: 1, Args: []string{"sshd", "-D"}},
		{PID: 20, PPID: 5, Args: []string{"/usr/bin/pulumi", "up", "--stack", "organization/infraflow-local/web"}},
	}
	environ := map[int][]string{10: {"HOME=/root", ours}, 11: {ours}, 12: {theirs}, 13: {ours}}
	got := orphanedPlugins(list, "file:///data/pulumi/state", func(pid int) []string { return environ[pid] })
	if !slices.Equal(got, []int{10}) {
		t.Errorf("orphaned plugins %v, want only 10 (11 has its CLI, 12 is another state's, 13 is no plugin)", got)
	}
}
