// Command report turns `go test -json` into what a person running `make test`
// wants: a line per package with its time, the whole output of every test
// that failed, the long tests as they end, and the slowest tests at the end.
// It exits 1 when anything failed, so a pipeline can use its status.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// longTest is how long a test must take for its end to be shown as it happens.
const longTest = 10 * time.Second

type result struct {
	name    string
	elapsed time.Duration
}

// slotWaitLine is how an end-to-end test reports (tests/platform_test.go)
// how long it queued for a platform slot, which its elapsed time includes.
var slotWaitLine = regexp.MustCompile(`platform slot: waited ([0-9.]+s)`)

// testLogLine is a line a test logged (t.Error, t.Fatal, t.Log): the failures
// are among them, and the summary repeats them below a long dump of output.
var testLogLine = regexp.MustCompile(`^\s+\w+_test\.go:\d+: `)

// waitedFor is how long the test queued for a platform slot, if it did.
func waitedFor(lines []string) time.Duration {
	for _, l := range lines {
		if m := slotWaitLine.FindStringSubmatch(l); m != nil {
			d, _ := time.ParseDuration(m[1])
			return d
		}
	}
	return 0
}

// standsAlone says whether a test gets a row of its own: a top-level test,
// or a subtest that took platform room, as the tests sharing one platform do.
func standsAlone(test string, lines []string) bool {
	return !strings.Contains(test, "/") || slices.ContainsFunc(lines, slotWaitLine.MatchString)
}

// failureLines picks what a failed test logged, leaving out dumped output.
func failureLines(lines []string) []string {
	var picked []string
	for _, l := range lines {
		if testLogLine.MatchString(l) && !strings.Contains(l, ": output of ") && !slotWaitLine.MatchString(l) {
			l = strings.TrimSpace(l)
			if len(l) > 400 {
				l = l[:400] + "..."
			}
			picked = append(picked, l)
		}
	}
	return picked
}

// timing is a test's elapsed time, with the part spent queuing for a
// platform slot named: the rest is what the test itself took.
func timing(elapsed time.Duration, lines []string) string {
	s := fmt.Sprintf("%7.1fs", elapsed.Seconds())
	if w := waitedFor(lines); w > 0 {
		s += fmt.Sprintf(" (%.1fs queued, %.1fs ran)", w.Seconds(), (elapsed - w).Seconds())
	}
	return s
}

func main() {
	output := map[string][]string{} // package/test -> lines so far
	var slowest []result
	var failures []string
	failed := false
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var e event
		if json.Unmarshal(in.Bytes(), &e) != nil {
			// Not an event: the go command's own message (a build error).
			fmt.Println(in.Text())
			continue
		}
		key := e.Package + " " + e.Test
		elapsed := time.Duration(e.Elapsed * float64(time.Second))
		switch e.Action {
		case "output":
			if e.Test != "" {
				output[key] = append(output[key], e.Output)
			} else if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "ok ") {
				output[key] = append(output[key], e.Output)
			}
		case "pass", "skip":
			if e.Test == "" {
				fmt.Printf("ok   %-58s %7.1fs\n", e.Package, e.Elapsed)
			} else if standsAlone(e.Test, output[key]) {
				slowest = append(slowest, result{e.Package + "." + e.Test, elapsed - waitedFor(output[key])})
				if elapsed >= longTest {
					fmt.Printf("     %-58s %s %s\n", e.Test, timing(elapsed, output[key]), e.Action)
				}
			}
			delete(output, key)
		case "fail":
			failed = true
			if e.Test == "" {
				// Tests that never ended (the package timed out or crashed):
				// their output holds where they were, and the panic.
				for _, k := range sortedKeys(output) {
					if test, ok := strings.CutPrefix(k, e.Package+" "); ok && test != "" {
						fmt.Printf("--- %s did not end:\n%s", test, strings.Join(output[k], ""))
						failures = append(failures, "--- "+test+" did not end")
						failures = append(failures, failureLines(output[k])...)
						delete(output, k)
					}
				}
				fmt.Print(strings.Join(output[key], ""))
				fmt.Printf("FAIL %-58s %7.1fs\n", e.Package, e.Elapsed)
			} else {
				fmt.Print(strings.Join(output[key], ""))
				failures = append(failures, fmt.Sprintf("--- FAIL: %s (%s)", e.Test, timing(elapsed, output[key])))
				failures = append(failures, failureLines(output[key])...)
				if standsAlone(e.Test, output[key]) {
					slowest = append(slowest, result{e.Package + "." + e.Test, elapsed - waitedFor(output[key])})
				}
			}
			delete(output, key)
		case "build-output":
			fmt.Print(e.Output)
		}
	}
	sort.Slice(slowest, func(i, j int) bool { return slowest[i].elapsed > slowest[j].elapsed })
	fmt.Println("slowest tests (time run, without queuing for a platform slot):")
	for _, r := range slowest[:min(12, len(slowest))] {
		fmt.Printf("  %7.1fs  %s\n", r.elapsed.Seconds(), strings.TrimPrefix(r.name, "github.com/infraflow/infraflow/"))
	}
	if len(failures) > 0 {
		// Again, after everything: a failed test's own lines end up far above,
		// under the output it dumped.
		fmt.Println("failures:")
		for _, l := range failures {
			fmt.Println("  " + l)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
