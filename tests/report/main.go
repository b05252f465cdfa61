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

func main() {
	output := map[string][]string{} // package/test -> lines so far
	var slowest []result
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
			} else if !strings.Contains(e.Test, "/") {
				slowest = append(slowest, result{e.Package + "." + e.Test, elapsed})
				if elapsed >= longTest {
					fmt.Printf("     %-58s %7.1fs %s\n", e.Test, e.Elapsed, e.Action)
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
						delete(output, k)
					}
				}
				fmt.Print(strings.Join(output[key], ""))
				fmt.Printf("FAIL %-58s %7.1fs\n", e.Package, e.Elapsed)
			} else {
				fmt.Print(strings.Join(output[key], ""))
				if !strings.Contains(e.Test, "/") {
					slowest = append(slowest, result{e.Package + "." + e.Test, elapsed})
				}
			}
			delete(output, key)
		case "build-output":
			fmt.Print(e.Output)
		}
	}
	sort.Slice(slowest, func(i, j int) bool { return slowest[i].elapsed > slowest[j].elapsed })
	fmt.Println("slowest tests:")
	for _, r := range slowest[:min(12, len(slowest))] {
		fmt.Printf("  %7.1fs  %s\n", r.elapsed.Seconds(), strings.TrimPrefix(r.name, "github.com/infraflow/infraflow/"))
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
