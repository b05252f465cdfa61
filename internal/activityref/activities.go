package activityref

import (
	"github.com/infraflow/infraflow/internal/approvers"
	"github.com/infraflow/infraflow/internal/gameday"
	"github.com/infraflow/infraflow/internal/playbook"
	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/stackop"
	"github.com/infraflow/infraflow/internal/toolchain"
)

// Every activity, by the name its histories record. The activities package
// registers the method of the same name under each.
var (
	// PlaceStack says on which task queue a stack's operations run.
	PlaceStack = define[stackop.Ref, stackop.Placement]("PlaceStack")
	// PreviewStack plans a stack operation (refresh included, so drift shows).
	PreviewStack = define[stackop.StackRequest, stackop.PreviewResult]("PreviewStack")
	// ApplyStack runs up, refresh or destroy; the int is the number of
	// resources the preview planned, the total of its progress.
	ApplyStack = define2[stackop.StackRequest, int, stackop.ApplyResult]("ApplyStack")
	// VerifyStack checks that the live infrastructure matches the stack.
	VerifyStack = define[stackop.StackRequest, stackop.Verification]("VerifyStack")
	// CheckPolicy evaluates the repository's policies on a plan.
	CheckPolicy = define[stackop.PolicyInput, stackop.PolicyDecision]("CheckPolicy")

	// PreparePlaybook checks a configuration request on the worker and
	// resolves its inventory, before any host is touched.
	PreparePlaybook = define2[playbook.Request, playbook.Inventory, playbook.Prepared]("PreparePlaybook")
	// RunPlaybook runs the playbook in the request's mode.
	RunPlaybook = define[playbook.Request, playbook.Report]("RunPlaybook")

	// ResolveApprovers expands groups into people (Approval runs before
	// signed decisions).
	ResolveApprovers = define[approvers.ResolveApproversInput, []string]("ResolveApprovers")
	// ResolveDeciders is ResolveApprovers plus the keys that authenticate
	// decisions.
	ResolveDeciders = define[approvers.ResolveDecidersInput, approvers.Deciders]("ResolveDeciders")
	// NotifyApproval posts an approval notice to the chat webhook.
	NotifyApproval = defineNoResult[approvers.ApprovalNotice]("NotifyApproval")

	// CheckTool reports whether one tool (by toolchain name) is present and
	// usable on the worker's machine.
	CheckTool = define[string, toolchain.ToolStatus]("CheckTool")

	// FetchMetrics reads a demand window from Prometheus.
	FetchMetrics = define[scaleop.MetricsQuery, scaleop.MetricsWindow]("FetchMetrics")
	// ForecastDemand fits, chooses and forecasts with intervals.
	ForecastDemand = define[scaleop.ForecastInput, scaleop.DemandForecast]("ForecastDemand")
	// ReadReplicas reads a scale target's replica count.
	ReadReplicas = define[scaleop.ScaleTargetRef, scaleop.ObservedReplicas]("ReadReplicas")
	// ApplyReplicas sets a scale target's replicas as a compare-and-set.
	ApplyReplicas = define[scaleop.ApplyReplicasInput, scaleop.Result]("ApplyReplicas")

	// RunProbes measures every steady-state probe of a game day once.
	RunProbes = define[gameday.ProbeRequest, gameday.ProbeRound]("RunProbes")
	// InjectFault injects one fault (idempotent: a retry adds nothing).
	InjectFault = define[gameday.FaultRequest, gameday.Injection]("InjectFault")
	// UndoFault takes one fault back and reads the target back to prove it.
	UndoFault = define[gameday.FaultRequest, gameday.Undo]("UndoFault")
	// WriteGameDayReport plots a game day's probe values with its faults shaded.
	WriteGameDayReport = define[gameday.ReportRequest, gameday.ReportFiles]("WriteGameDayReport")
	// NotifyChat posts a game day's notice to the chat webhook.
	NotifyChat = defineNoResult[gameday.Notice]("NotifyChat")
	// LastGoodConfig reads the configuration of a stack's last successful up.
	LastGoodConfig = define[stackop.Ref, map[string]any]("LastGoodConfig")
)
