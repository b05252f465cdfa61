package tests

import (
	"fmt"
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
// ones. Beside the units, a lane of its own runs light platforms (one unit,
// no control plane) one at a time: they are short and mostly wait, and
// without it they all queued behind the long full ones. The first grant
// waits for the first wave of tests to ask, so the long ones among them go
// first.
type room struct {
	mu       sync.Mutex
	free     int
	laneFree int
	opensAt  time.Time
	waiting  []*roomRequest
	opening  sync.Once
	arrivals int
}

type roomRequest struct {
	units, priority, arrival int
	granted                  chan bool // true: granted in the light lane
}

func newRoom(units, lightLane int) *room { return &room{free: units, laneFree: lightLane} }

// acquire waits for units; a higher priority is served first. A release
// must say whether the grant was in the lane.
func (r *room) acquire(units, priority int) (inLane bool) {
	r.opening.Do(func() {
		r.mu.Lock()
		r.opensAt = time.Now().Add(time.Second)
		r.mu.Unlock()
		time.AfterFunc(time.Second, func() { r.mu.Lock(); r.grant(); r.mu.Unlock() })
	})
	r.mu.Lock()
	req := &roomRequest{units: units, priority: priority, arrival: r.arrivals, granted: make(chan bool, 1)}
	r.arrivals++
	r.waiting = append(r.waiting, req)
	slices.SortStableFunc(r.waiting, func(a, b *roomRequest) int { return b.priority - a.priority })
	r.grant()
	r.mu.Unlock()
	return <-req.granted
}

func (r *room) release(units int, inLane bool) {
	r.mu.Lock()
	if inLane {
		r.laneFree++
	} else {
		r.free += units
	}
	r.grant()
	r.mu.Unlock()
}

// grant serves the queue in order while the head fits, then gives the lane
// to the first light request still waiting; r.mu is held.
func (r *room) grant() {
	if time.Now().Before(r.opensAt) {
		return
	}
	for len(r.waiting) > 0 && r.waiting[0].units <= r.free {
		head := r.waiting[0]
		r.waiting = r.waiting[1:]
		r.free -= head.units
		head.granted <- false
	}
	for i := 0; i < len(r.waiting) && r.laneFree > 0; {
		if req := r.waiting[i]; req.units == 1 {
			r.waiting = slices.Delete(r.waiting, i, i+1)
			r.laneFree--
			req.granted <- true
			continue
		}
		i++
	}
}

// longTests are the end-to-end tests that run for minutes, with the seconds
// each ran in a `make test` on 2 cores: they take room before the others.
var longTests = map[string]int{
	"TestConfigureStackHostsFromTemporalCLI":        365,
	"TestGameDayRemediatesAKilledApp":               280, // alone, on 2 cores others kept at a load of 6-7
	"TestProvisionSurvivesWorkerSIGKILL":            195,
	"TestConfigureSurvivesWorkerSIGKILL":            182,
	"TestRunningProvisionSurvivesATightenedCatalog": 140,
	"TestConfigureFailuresOnLocalHosts":             134,
	"TestApprovalMovesToTheNextBuildAndCompletes":   118,
	"TestPolicyGatesProvisioning":                   80,
}

// roomPriority is the test's expected run time, if it is a long one.
func roomPriority(testName string) int {
	top, _, _ := strings.Cut(testName, "/")
	return longTests[top]
}

// Room goes to the longest waiting test first, and a full platform at the
// head of the queue is not overtaken by a light one in the units.
func TestRoomServesLongTestsFirst(t *testing.T) {
	t.Parallel()
	r := newRoom(2, 0)
	r.acquire(2, 0) // the first wave's grant waits a second: this one opens it
	order := make(chan string, 2)
	go func() { inLane := r.acquire(1, 0); order <- "light"; r.release(1, inLane) }()
	time.Sleep(100 * time.Millisecond)
	go func() { inLane := r.acquire(2, 300); order <- "long"; r.release(2, inLane) }()
	time.Sleep(100 * time.Millisecond)
	r.release(2, false)
	if first, second := <-order, <-order; first != "long" || second != "light" {
		t.Errorf("granted %s then %s, want the long test first", first, second)
	}
}

// While full platforms hold every unit and another waits at the head, light
// platforms run in the lane, one at a time, and the full one still gets the
// units first when they are freed.
func TestRoomRunsLightPlatformsInTheirLane(t *testing.T) {
	t.Parallel()
	r := newRoom(2, 1)
	if inLane := r.acquire(2, 300); inLane {
		t.Fatal("a full platform was granted the light lane")
	}
	events := make(chan string, 8)
	go func() { inLane := r.acquire(2, 200); events <- "full"; r.release(2, inLane) }()
	time.Sleep(100 * time.Millisecond)
	lightDone := make(chan bool, 2)
	for _, name := range []string{"light-a", "light-b"} {
		go func() {
			inLane := r.acquire(1, 0)
			events <- fmt.Sprintf("%s in lane %v", name, inLane)
			<-lightDone
			r.release(1, inLane)
		}()
		time.Sleep(50 * time.Millisecond)
	}
	if got := <-events; got != "light-a in lane true" {
		t.Fatalf("first grant %q, want light-a in the lane beside the full platforms", got)
	}
	select {
	case got := <-events:
		t.Fatalf("%q granted while the lane and the units were taken", got)
	case <-time.After(200 * time.Millisecond):
	}
	r.release(2, false)
	if got := <-events; got != "full" {
		t.Fatalf("after the units were freed, %q was granted, want the waiting full platform", got)
	}
	// The full platform ended at once: light-b takes the units it freed.
	if got := <-events; got != "light-b in lane false" {
		t.Fatalf("after the full platform, %q, want light-b in the freed units", got)
	}
	lightDone <- true
	lightDone <- true
}
