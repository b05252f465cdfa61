// Package playbook describes an Ansible playbook run as workflows and
// activities exchange it: the request, the hosts and how to reach them, the
// run's mode, its events and its per-host report. It does no I/O;
// internal/ansiblerun runs ansible-playbook.
package playbook

import (
	"regexp"
	"sort"

	"github.com/infraflow/infraflow/internal/stackop"
)

// ErrTypeInvalidConfiguration is the failure type when a configuration request
// cannot run as asked (missing playbook, syntax error, wrong-typed variable,
// unreadable secret): retrying cannot help. The message names the field.
const ErrTypeInvalidConfiguration = "InvalidConfiguration"

// ProgressSignal carries an Event from RunPlaybook to its workflow, for the
// live progress query.
const ProgressSignal = "playbookProgress"

// Mode is how a run treats the hosts.
type Mode string

// Run modes.
const (
	// Check predicts changes (--check --diff) without making them.
	Check Mode = "check"
	// Apply makes the changes.
	Apply Mode = "apply"
	// Verify runs only the playbook's tasks tagged "verify".
	Verify Mode = "verify"
)

// Host is one machine to configure and how to reach it over SSH.
type Host struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port,omitempty"`
	User    string `json:"user,omitempty"`
	// PrivateKeyPath is a key file on the worker; keys never travel in input.
	PrivateKeyPath string `json:"privateKeyPath,omitempty"`
	// Root is where the host's filesystem starts for the playbooks (the local
	// stack's hosts share one computer); empty means "/".
	Root string `json:"root,omitempty"`
	// HostKey is the host's public SSH key ("ssh-ed25519 AAAA..."). When set,
	// the run trusts exactly this key for the host; otherwise the worker's
	// known_hosts decides, as for any ssh client.
	HostKey string `json:"hostKey,omitempty"`
	// Vars are host variables, e.g. app_port or ansible_become.
	Vars map[string]any `json:"vars,omitempty"`
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ValidName reports whether name can be an inventory host name.
func ValidName(name string) bool { return hostName.MatchString(name) }

// Names lists the hosts' names, sorted.
func Names(hosts []Host) []string {
	names := make([]string, 0, len(hosts))
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	sort.Strings(names)
	return names
}

// SecretRef says where the worker reads a secret: a file on the worker or an
// environment variable of the worker. The value itself never enters workflow
// input, history or logs.
type SecretRef struct {
	File string `json:"file,omitempty"`
	Env  string `json:"env,omitempty"`
}

// Inventory says which hosts to configure: listed, or a stack's "hosts" output.
type Inventory struct {
	Hosts []Host       `json:"hosts,omitempty"`
	Stack *stackop.Ref `json:"stack,omitempty"`
}

// Request is one configuration request as the activities see it.
// Secrets are references; their values are read on the worker at run time.
type Request struct {
	Playbook      string               `json:"playbook"`
	Hosts         []Host               `json:"hosts,omitempty"`
	ExtraVars     map[string]any       `json:"extraVars,omitempty"`
	Secrets       map[string]SecretRef `json:"secrets,omitempty"`
	VaultPassword *SecretRef           `json:"vaultPassword,omitempty"`
	Limit         []string             `json:"limit,omitempty"`
	Mode          Mode                 `json:"mode,omitempty"`
}

// Prepared is a request checked against the worker: the playbook's path and
// the hosts, resolved.
type Prepared struct {
	Playbook string `json:"playbook"`
	Hosts    []Host `json:"hosts"`
}

// Event is one step of a run, for progress and heartbeats.
type Event struct {
	Task string `json:"task"`
	// Host and Status are set for a host's result of the task.
	Host   string `json:"host,omitempty"`
	Status string `json:"status,omitempty"`
	// TasksStarted counts tasks (and handlers) started so far.
	TasksStarted int `json:"tasksStarted"`
}

// Host statuses, worst first.
const (
	StatusUnreachable = "unreachable"
	StatusFailed      = "failed"
	StatusChanged     = "changed"
	StatusOK          = "ok"
)

// HostResult is what a run did on one host.
type HostResult struct {
	Host        string `json:"host"`
	Status      string `json:"status"`
	OK          int    `json:"ok"`
	Changed     int    `json:"changed"`
	Failed      int    `json:"failed"`
	Unreachable int    `json:"unreachable"`
	Skipped     int    `json:"skipped"`
	// ChangedTasks name the tasks that changed (or, in check mode, would).
	ChangedTasks []string `json:"changedTasks,omitempty"`
	// ChangedPaths are the files and directories those tasks touched, as
	// paths on the host (below its root).
	ChangedPaths []string `json:"changedPaths,omitempty"`
	FailedTask   string   `json:"failedTask,omitempty"`
	Message      string   `json:"message,omitempty"`
}

// Report is the outcome of a run, one entry per host that took part.
type Report struct {
	Mode  Mode         `json:"mode"`
	Hosts []HostResult `json:"hosts"`
	Tasks int          `json:"tasks"`
}

// Host returns the result for name, if the host took part.
func (r Report) Host(name string) (HostResult, bool) {
	for _, h := range r.Hosts {
		if h.Host == name {
			return h, true
		}
	}
	return HostResult{}, false
}
