# Policies every ProvisionStack plan is checked against before it is applied.
# input.changes: [{op, type, name, diffs, old, new}] (op: create, update,
# replace, delete, same); input.program, input.stack, input.operation.
# deny stops the plan; require_approval sends it to the Approval workflow.
package infraflow.provision

import rego.v1

# More replicas than this needs a person's approval.
max_replicas_without_approval := 5

deny contains msg if {
	some c in input.changes
	c.type == "infraflow:kubernetes:Namespace"
	c.op in {"delete", "replace"}
	c.old.labels["infraflow.io/protected"] == "true"
	msg := sprintf("namespace %s is protected (label infraflow.io/protected=true): it may not be deleted or replaced", [c.name])
}

deny contains msg if {
	some c in input.changes
	c.type == "infraflow:kubernetes:Deployment"
	c.op in {"create", "update"}
	endswith(c.new.image, ":latest")
	msg := sprintf("deployment %s uses %s: pin an image tag, not :latest", [c.name, c.new.image])
}

require_approval contains msg if {
	some c in input.changes
	c.type == "infraflow:kubernetes:Deployment"
	c.op in {"create", "update", "replace"}
	c.new.replicas > max_replicas_without_approval
	msg := sprintf("deployment %s scales to %d replicas (more than %d needs approval)", [c.name, c.new.replicas, max_replicas_without_approval])
}

require_approval contains msg if {
	some c in input.changes
	c.op in {"delete", "replace"}
	input.operation != "destroy"
	msg := sprintf("%s %s would be %sd", [c.type, c.name, c.op])
}
