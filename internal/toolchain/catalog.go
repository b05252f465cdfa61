package toolchain

import "regexp"

// Tool is one external program the platform needs, described well enough to
// check it and to tell a person how to fix it.
type Tool struct {
	Name string
	// Command and Args print the version; VersionPattern's first group extracts it.
	Command        string
	Args           []string
	VersionPattern *regexp.Regexp
	// Expected is the pinned version, empty where the distribution decides.
	Expected string
	// Health, when set, is a second command that must exit 0 for the tool to be usable.
	Health []string
	Fix    string
}

// TemporalServer is checked through the frontend API rather than a command.
const TemporalServer = "temporal-server"

// PulumiBackend is where the worker's stacks keep their state (its
// --pulumi-backend), checked by reading its list of stacks.
const PulumiBackend = "pulumi-backend"

// Catalog lists every tool the platform uses, in the order reports show them.
func Catalog() []Tool {
	return []Tool{
		{
			Name:           "temporal",
			Command:        "temporal",
			Args:           []string{"--version"},
			VersionPattern: regexp.MustCompile(`temporal version (\S+)`),
			Expected:       TemporalCLIVersion,
			Fix:            "run `make tools`, then put .infraflow/bin on PATH",
		},
		{
			Name:           "pulumi",
			Command:        "pulumi",
			Args:           []string{"version"},
			VersionPattern: regexp.MustCompile(`(?m)^(v\d\S*)`),
			Expected:       PulumiVersion,
			Fix:            "run `make tools`, then put .infraflow/bin on PATH",
		},
		{
			Name:           "pulumi-resource-infraflow",
			Command:        "pulumi",
			Args:           []string{"plugin", "ls"},
			VersionPattern: regexp.MustCompile(`(?m)^infraflow\s+resource\s+(\S+)`),
			Expected:       ProviderVersion,
			Fix:            "run `make tools` (builds the local stack's provider and installs it into the Pulumi plugin cache)",
		},
		kubeComponent("etcd", `etcd Version: (\S+)`, EtcdVersion),
		kubeComponent("kube-apiserver", `Kubernetes (v\S+)`, KubernetesVersion),
		kubeComponent("kube-controller-manager", `Kubernetes (v\S+)`, KubernetesVersion),
		kubeComponent("kube-scheduler", `Kubernetes (v\S+)`, KubernetesVersion),
		kubeComponent("kwok", `kwok version (v\S+)`, KwokVersion),
		toxiproxyProgram("toxiproxy-server"),
		toxiproxyProgram("toxiproxy-cli"),
		{
			Name:           "ansible-playbook",
			Command:        "ansible-playbook",
			Args:           []string{"--version"},
			VersionPattern: regexp.MustCompile(`\[core ([^\]]+)\]`),
			// ConfigureHosts streams per-task events through the ansible.posix.jsonl
			// callback, which only the full `ansible` package ships.
			Health: []string{"ansible-doc", "-t", "callback", "ansible.posix.jsonl"},
			Fix:    "run `make tools` (apt-get install ansible)",
		},
		{
			Name:    "ansible-lint",
			Command: "ansible-lint",
			// --offline: without it ansible-lint takes its project cache's
			// lock before it even reads --version, and waits up to 3 minutes
			// for any other ansible-lint of the same project (a lint run,
			// another worker's probe) to finish.
			Args:           []string{"--offline", "--version"},
			VersionPattern: regexp.MustCompile(`ansible-lint (\S+)`),
			Fix:            "run `make tools` (apt-get install ansible-lint)",
		},
		{
			Name:           "ssh",
			Command:        "ssh",
			Args:           []string{"-V"},
			VersionPattern: regexp.MustCompile(`^(OpenSSH_\S+)`),
			Fix:            "run `make tools` (apt-get install openssh-client)",
		},
		{
			Name:           "sshd",
			Command:        "/usr/sbin/sshd",
			Args:           []string{"-V"},
			VersionPattern: regexp.MustCompile(`^(OpenSSH_[^,\s]+)`),
			Fix:            "run `make tools` (apt-get install openssh-server)",
		},
		{
			Name:           "prometheus",
			Command:        "prometheus",
			Args:           []string{"--version"},
			VersionPattern: regexp.MustCompile(`prometheus, version (\S+)`),
			Fix:            "run `make tools` (apt-get install prometheus)",
		},
		{
			// moto_server has no --version; its package says.
			Name:           "moto",
			Command:        "python3",
			Args:           []string{"-c", "import moto; print('moto', moto.__version__)"},
			VersionPattern: regexp.MustCompile(`moto (\S+)`),
			Expected:       MotoVersion,
			Health:         []string{"moto_server", "--help"},
			Fix:            "moto comes with the machine image's Python (pyenv); put that python3 and moto_server on PATH",
		},
	}
}

// kubeComponent is a program of the local Kubernetes control plane.
func kubeComponent(name, versionPattern, expected string) Tool {
	return Tool{
		Name:           name,
		Command:        name,
		Args:           []string{"--version"},
		VersionPattern: regexp.MustCompile(versionPattern),
		Expected:       expected,
		Fix:            "run `make tools`, then put .infraflow/bin on PATH (the local control plane)",
	}
}

// toxiproxyProgram is a program of toxiproxy, the game days' network faults.
func toxiproxyProgram(name string) Tool {
	return Tool{
		Name:           name,
		Command:        name,
		Args:           []string{"--version"},
		VersionPattern: regexp.MustCompile(name + ` version (\S+)`),
		Expected:       ToxiproxyVersion,
		Fix:            "run `make tools`, then put .infraflow/bin on PATH (toxiproxy, the game days' network faults)",
	}
}

// Names lists the tools PlatformCheck knows: the server and the stacks'
// backend, then the catalog.
func Names() []string {
	names := []string{TemporalServer, PulumiBackend}
	for _, t := range Catalog() {
		names = append(names, t.Name)
	}
	return names
}
