package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// RecordHistoriesEnv names the directory `make histories` has the end-to-end
// tests save their workflow histories in, for the replay tests
// (workflows/replay_test.go) to replay on every later release.
const RecordHistoriesEnv = "INFRAFLOW_RECORD_HISTORIES"

// historiesPerKind bounds what one test records per workflow type and
// status: a test that starts a hundred approvals adds three, not a hundred.
const historiesPerKind = 3

// recordHistoriesAtCleanup has the platform's histories saved when the test
// ends, while its server still runs (cleanups run last-registered first).
func (p *platform) recordHistoriesAtCleanup() {
	dir := os.Getenv(RecordHistoriesEnv)
	if dir == "" || p.recording {
		return
	}
	p.recording = true
	p.t.Cleanup(func() {
		n, err := p.recordHistories(dir)
		if err != nil {
			// A test that stopped its platform for good has nothing to read from;
			// recording is best effort, the test's own verdict stands.
			p.t.Logf("recording histories: %v", err)
		}
		p.t.Logf("recorded %d workflow histories in %s", n, dir)
	})
}

// recordHistories saves the histories of the workflows this platform ran,
// closed or still running, with payloads decrypted: the replay tests must
// not need the platform's keys, and the inputs are test data.
func (p *platform) recordHistories(dir string) (int, error) {
	codec, err := p.payloadCodec()
	if err != nil {
		return 0, err
	}
	c, err := client.Dial(client.Options{HostPort: p.frontend, Namespace: "default", Logger: quietLogger()})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}

	perKind := map[string]int{}
	saved := 0
	var token []byte
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", NextPageToken: token})
		if err != nil {
			return saved, fmt.Errorf("listing workflows: %w", err)
		}
		for _, e := range page.Executions {
			status := strings.ToLower(strings.TrimPrefix(e.Status.String(), "WORKFLOW_EXECUTION_STATUS_"))
			kind := e.Type.GetName() + "-" + status
			if perKind[kind] >= historiesPerKind {
				continue
			}
			hist, err := history(ctx, c, e.Execution.GetWorkflowId(), e.Execution.GetRunId())
			if err != nil {
				return saved, err
			}
			if err := proxy.VisitPayloads(ctx, hist, proxy.VisitPayloadsOptions{
				Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
					return codec.Decode(ps)
				},
				SkipSearchAttributes: true,
			}); err != nil {
				return saved, fmt.Errorf("decrypting the history of %s: %w", e.Execution.GetWorkflowId(), err)
			}
			data, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(hist)
			if err != nil {
				return saved, err
			}
			// One workflow ID can have several runs (a stack's ProvisionStack
			// is run again for each change): the run ID tells them apart.
			name := fileSafe(kind+"-"+p.t.Name()+"-"+e.Execution.GetWorkflowId()+"-"+runSuffix(e.Execution.GetRunId())) + ".json"
			if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
				return saved, err
			}
			perKind[kind]++
			saved++
		}
		if token = page.NextPageToken; len(token) == 0 {
			return saved, nil
		}
	}
}

func history(ctx context.Context, c client.Client, id, runID string) (*historypb.History, error) {
	hist := &historypb.History{}
	iter := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		event, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		hist.Events = append(hist.Events, event)
	}
	return hist, nil
}

// runSuffix is the random end of a run ID (its start is a timestamp, shared by
// runs a minute apart).
func runSuffix(runID string) string {
	return runID[max(0, len(runID)-8):]
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(name string) string {
	return unsafeFileChars.ReplaceAllString(name, "_")
}
