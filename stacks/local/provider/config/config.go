// Package config is the provider's configuration.
package config

// Config is set in a stack as infraflow:kubeconfig and infraflow:stateDir.
type Config struct {
	// Kubeconfig is the path of the kubeconfig for the local control plane.
	Kubeconfig string `pulumi:"kubeconfig,optional"`
	// StateDir is where SSH hosts keep their keys, configs and roots.
	StateDir string `pulumi:"stateDir,optional"`
}
