// This file is part of the "next release" in tests/versioning_test.go,
// compiled into the stacks package with `go build -overlay`: it tightens a
// catalog validation, as a release might (the local program's Deployment may
// have at most 2 replicas). Runs that began before it keep the configuration
// they were accepted with; new requests are checked against it.
package stacks

func init() {
	for i, p := range catalog {
		if p.Name != "local" {
			continue
		}
		for j, k := range p.Config {
			if k.Name == "replicas" {
				catalog[i].Config[j].Max = atMost(2)
			}
		}
	}
}
