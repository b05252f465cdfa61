// Package policies holds the Rego policies infraflow checks plans against.
package policies

import "embed"

// Files are the policy modules, by file name.
//
//go:embed *.rego
var Files embed.FS

// Query is the package every ProvisionStack plan is evaluated in.
const Query = "data.infraflow.provision"
