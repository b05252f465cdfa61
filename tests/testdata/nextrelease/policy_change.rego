# This file is part of a "next release" in tests/versioning_test.go, compiled
# into the policies with `go build -overlay`: the release withdraws an image,
# so a plan approved before it, and unchanged since, is denied after it.
package infraflow.provision

import rego.v1

deny contains msg if {
	some c in input.changes
	c.type == "infraflow:kubernetes:Deployment"
	c.op in {"create", "update"}
	c.new.image == "nginx:1.25"
	msg := sprintf("deployment %s uses nginx:1.25, withdrawn by this release: use nginx:1.27", [c.name])
}
