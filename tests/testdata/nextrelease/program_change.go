// This file is part of the "next release" in tests/versioning_test.go,
// compiled into the local program with `go build -overlay`: the release
// changes what the program declares (its namespace gets one more label), so
// a plan approved before the release is stale after it.
package local

func init() {
	namespaceLabels["infraflow.io/release"] = "next"
}
