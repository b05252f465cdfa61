package workflows

import "go.temporal.io/sdk/workflow"

// ProgressQuery is the query every infraflow workflow answers with a Progress;
// `starter --wait` draws its progress bar from it.
const ProgressQuery = "progress"

// Progress is where a workflow is: its phase and, within it, steps done of total.
type Progress struct {
	Phase   string `json:"phase"`
	Done    int    `json:"done"`
	Total   int    `json:"total"`
	Current string `json:"current,omitempty"`
}

// trackProgress registers the progress query over a value the workflow updates.
func trackProgress(ctx workflow.Context, p *Progress) error {
	return workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return *p, nil })
}
