package tests

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// room hands out the machine's room for platforms in units, longest tests
// first: a test that runs for minutes and starts last keeps the whole run
// waiting for it on an otherwise idle machine. A request that does not fit
// holds back the ones behind it, so a full platform is not starved by light
// ones. The first grant waits for the first wave of tests to ask, so the long
// ones among them go first.
type room struct {
	mu       sync.Mutex
	free     int
	opensAt  time.Time
	waiting  []*roomRequest
	opening  sync.Once
	arrivals int
}

type roomRequest struct {
	units, priority, arrival int
	granted                  chan struct{}
}

func newRoom(units int) *room { return &room{free: units} }

// acquire waits for units; a higher priority is served first.
func (r *room) acquire(units, priority int) {
	r.opening.Do(func() {
		r.mu.Lock()
		r.opensAt = time.Now().Add(time.Second)
		r.mu.Unlock()
		time.AfterFunc(time.Second, func() { r.mu.Lock(); r.grant(); r.mu.Unlock() })
	})
	r.mu.Lock()
	req := &roomRequest{units: units, priority: priority, arrival: r.arrivals, granted: make(chan struct{})}
	r.arrivals++
	r.waiting = append(r.waiting, req)
	slices.SortStableFunc(r.waiting, func(a, b *roomRequest) int { return b.priority - a.priority })
	r.grant()
	r.mu.Unlock()
	<-req.granted
}

func (r *room) release(units int) {
	r.mu.Lock()
	r.free += units
	r.grant()
	r.mu.Unlock()
}

// grant serves the queue in order while the head fits; r.mu is held.
func (r *room) grant() {
	if time.Now().Before(r.opensAt) {
		return
	}
	for len(r.waiting) > 0 && r.waiting[0].units <= r.free {
		head := r.waiting[0]
		r.waiting = r.waiting[1:]
		r.free -= head.units
		close(head.granted)
	}
}

// longTests are the end-to-end tests that run for a minute or more, with the
// seconds each ran (the longer of two warm `make test` runs on 2 cores): they
// take room before the others, so that none of them starts last and ends the
// run alone. The tests on the shared platform are named as its subtests are;
// the shared platform itself starts before any of them.
var longTests = map[string]int{
	sharedPlatformTest:                                                1000,
	"TestProvisionSurvivesWorkerSIGKILL":                              157,
	"TestGameDayRemediatesAKilledApp":                                 133,
	"TestFleetOnPostgreSQLSurvivesAWorkerKilledMidApply":              126,
	"TestRunningProvisionSurvivesATightenedCatalog":                   112,
	"TestApprovalMovesToTheNextBuildAndCompletes":                     100,
	"GameDayWaitsForAWorkloadItCannotMeasureYet":                      110, // mostly waiting for its 9 attempts
	"ConfigureStackHostsFromTemporalCLI":                              95,
	"TestApprovedPlanIsDeniedByTheNextReleasesPolicy":                 91,
	"TestForecastScaleScheduleFollowsAReplayedTraceThroughPrometheus": 86,
	"TestASlowApplyKeepsItsStackWhileAnotherWorkerRetries":            78,
	"TestConfigureSurvivesWorkerSIGKILL":                              64,
	"TestHundredPendingApprovalsSurviveWorkerSIGKILL":                 52,
	"TestWorkflowInputsAreEncryptedAndKeysRotate":                     48,
	"ConfigureFailuresOnLocalHosts":                                   46,
	"TestComposeSchemaJobMakesADatabaseTheServerRuns":                 44,
	"PolicyGatesProvisioning":                                         40,
	"TestForecastScaleTickSurvivesAWorkerKillWithoutApplyingTwice":    38,
}

// roomPriority is the test's expected run time, if it is a long one.
func roomPriority(testName string) int {
	parts := strings.Split(testName, "/")
	if parts[0] == sharedPlatformTest && len(parts) > 1 {
		return longTests[parts[1]]
	}
	return longTests[parts[0]]
}

// Room goes to the longest waiting test first, and a full platform at the
// head of the queue is not overtaken by a light one.
func TestRoomServesLongTestsFirst(t *testing.T) {
	t.Parallel()
	r := newRoom(2)
	r.acquire(2, 0) // the first wave's grant waits a second: this one opens it
	order := make(chan string, 2)
	go func() { r.acquire(1, 0); order <- "light"; r.release(1) }()
	time.Sleep(100 * time.Millisecond)
	go func() { r.acquire(2, 300); order <- "long"; r.release(2) }()
	time.Sleep(100 * time.Millisecond)
	r.release(2)
	if first, second := <-order, <-order; first != "long" || second != "light" {
		t.Errorf("granted %s then %s, want the long test first", first, second)
	}
}
