package tests

import (
	"testing"
)

// sharedPlatformTest is the test whose subtests share one platform.
const sharedPlatformTest = "TestOnASharedPlatform"

// sharedTest is a test that needs nothing of a platform but what every
// `worker --dev` has, touches only workflows, stacks, namespaces and hosts of
// its own names, and never stops the platform: it can share one.
type sharedTest struct {
	name string
	// units is the room the test's own work takes (tests/room_test.go):
	// 2 when it runs Pulumi or Ansible, 1 when it only drives workflows.
	units int
	run   func(t *testing.T, p *platform)
}

// sharedTests run side by side on one platform. A platform costs a Temporal
// server, a Kubernetes control plane and a Prometheus: tens of CPU-seconds to
// start and a tenth of a core while it waits, on a machine whose two cores
// the end-to-end tests keep busy.
var sharedTests = []sharedTest{
	{"ConfigureStackHostsFromTemporalCLI", 2, testConfigureStackHostsFromTemporalCLI},
	{"ConfigureFailuresOnLocalHosts", 2, testConfigureFailuresOnLocalHosts},
	{"ProvisionLocalStackFromTemporalCLI", 2, testProvisionLocalStackFromTemporalCLI},
	{"PolicyGatesProvisioning", 2, testPolicyGatesProvisioning},
	{"ProvisionBadInputFailsBeforeAnyPulumiCall", 1, testProvisionBadInputFailsBeforeAnyPulumiCall},
	{"DriftTTLAndCompensation", 2, testDriftTTLAndCompensation},
	{"GameDayPodDeleteHoldsWhenTheControllerRecreatesThePods", 1, testGameDayPodDeleteHoldsWhenTheControllerRecreatesThePods},
	{"GameDayWaitsForAWorkloadItCannotMeasureYet", 1, testGameDayWaitsForAWorkloadItCannotMeasureYet},
	{"ApproveFromChatEndToEnd", 1, testApproveFromChatEndToEnd},
	{"DecideFromStarterAndTemporalCLI", 1, testDecideFromStarterAndTemporalCLI},
	{"InvalidInputFailsAtOnceNamingTheField", 1, testInvalidInputFailsAtOnceNamingTheField},
	{"StarterValidatesFollowsAndLists", 1, testStarterValidatesFollowsAndLists},
	{"ConfigureRefusesHostileInput", 1, testConfigureRefusesHostileInput},
	{"WebUIShowsDecodedPayloads", 1, testWebUIShowsDecodedPayloads},
}

// TestOnASharedPlatform runs sharedTests as parallel subtests of one
// platform, which stops once the last of them has ended.
func TestOnASharedPlatform(t *testing.T) {
	t.Parallel()
	p := newPlatform(t)
	// An idle platform takes no room of its own; its tests take theirs as
	// they run.
	p.takeUnits(0)
	p.start()
	// Dialed here so that the client lives as long as the platform, not as
	// long as the first subtest that queries.
	p.sdkClient()
	for _, st := range sharedTests {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			st.run(t, p.forTest(t, st.units))
		})
	}
}

// forTest is p as seen by one of the tests sharing it: failures, logs and
// cleanups go to t, which holds units of room while it runs.
func (p *platform) forTest(t *testing.T, units int) *platform {
	shared := *p
	shared.t = t
	shared.slot = &slotHold{}
	shared.takeUnits(units)
	return &shared
}
