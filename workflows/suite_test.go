package workflows

import (
	"time"

	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// testEnv is the SDK's time-skipping environment with a deadlock detector
// that tolerates a starved CPU: make test runs these tests beside the
// end-to-end tests on 2 cores, and a workflow task that verifies signatures
// under -race can wait longer than the default second for a core without
// being stuck.
func testEnv(s *testsuite.WorkflowTestSuite) *testsuite.TestWorkflowEnvironment {
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: 15 * time.Second})
	return env
}
