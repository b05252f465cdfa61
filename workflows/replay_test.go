package workflows

import (
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// historiesDir holds histories recorded from the end-to-end runs: the files
// at its top, and one directory per later recording (`make histories` adds
// one). Workflows run for days; each release must replay what earlier ones
// recorded, or running workflows break when it rolls out. A change that fails
// here goes behind workflow.GetVersion (see signedDecisionsChange in
// approval_auth.go), or becomes a new workflow type.
const historiesDir = "../tests/testdata/histories"

func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := recordedHistories(historiesDir)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]int{}
	for _, file := range files {
		recorded[strings.SplitN(filepath.Base(file), "-", 2)[0]]++
	}
	for _, d := range All() {
		if recorded[d.Name] == 0 {
			t.Errorf("no recorded history of %s in %s; `make histories` records them", d.Name, historiesDir)
		}
	}
	for _, file := range files {
		name, _ := filepath.Rel(historiesDir, file)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			if err := replay(file); err != nil {
				t.Errorf("replaying %s: %v", file, err)
			}
		})
	}
}

// recordedHistories lists the history files under dir, at any depth.
func recordedHistories(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".json" {
			files = append(files, path)
		}
		return err
	})
	return files, err
}

// replay replays one recorded history under its own workflow ID: decisions
// are signed over the workflow ID, and the replayer's stand-in ID would make
// them fail verification.
func replay(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return err
	}
	started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	replayer := worker.NewWorkflowReplayer()
	Register(replayer)
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return replayer.ReplayWorkflowHistoryWithOptions(logger, hist, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()},
	})
}
