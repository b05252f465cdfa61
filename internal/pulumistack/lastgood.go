package pulumistack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/infraflow/infraflow/internal/stackop"
)

// requestKey holds the configuration a request gave, as JSON, in the stack's
// config. It is not the provider's namespace (infraflow:), whose keys are the
// local provider's inputs: a new key there would change the provider.
const requestKey = "infraflow-meta:request"

// historyEntry is what the DIY backend records of each update in
// .pulumi/history/<project>/<stack>/<stack>-<unix nanos>.history.json.
type historyEntry struct {
	Kind   string         `json:"kind"`
	Result string         `json:"result"`
	Config map[string]any `json:"config"`
}

// LastGoodConfig returns the configuration of the stack's last successful up,
// from Pulumi's own update history in the backend, which every worker reads;
// nil when it has none.
func (e Env) LastGoodConfig(ctx context.Context, ref stackop.Ref) (map[string]any, error) {
	s, err := storeOf(ctx, e.backendURL())
	if err != nil {
		return nil, err
	}
	prefix := ".pulumi/history/" + projectOf(ref) + "/" + ref.Stack + "/" + ref.Stack + "-"
	keys, err := s.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	// Newest first: the suffix is a Unix time in nanoseconds, all of one length.
	slices.Reverse(keys)
	for _, k := range keys {
		if !strings.HasSuffix(k, ".history.json") {
			continue
		}
		raw, err := s.read(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("reading the history of %s: %w", ref, err)
		}
		var entry historyEntry
		if err := json.Unmarshal(raw, &entry); err != nil {
			return nil, fmt.Errorf("reading the history of %s (%s): %w", ref, k, err)
		}
		if entry.Kind != "update" || entry.Result != "succeeded" {
			continue
		}
		request, ok := entry.Config[requestKey].(string)
		if !ok {
			// An up by an earlier release, which kept the request in the
			// worker's files: no configuration that can be trusted here.
			return nil, nil
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(request), &cfg); err != nil {
			return nil, fmt.Errorf("the last good configuration of %s: %w", ref, err)
		}
		return cfg, nil
	}
	return nil, nil
}
