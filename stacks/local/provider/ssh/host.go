// Package ssh manages SSH-reachable hosts on loopback: one sshd process per
// host, with its own host key, login key and root directory, so Ansible can
// configure several "machines" on one computer without collisions.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/infraflow/infraflow/stacks/local/provider/config"
)

// Host is an sshd on 127.0.0.1.
type Host struct{}

// HostArgs declare a host.
type HostArgs struct {
	Name string `pulumi:"name" provider:"replaceOnChanges"`
	// Port is the port to listen on; 0 picks a free one at creation.
	Port int `pulumi:"port,optional" provider:"replaceOnChanges"`
}

// HostState is a running host and how to log in to it.
type HostState struct {
	HostArgs
	Address        string `pulumi:"address"`
	ListenPort     int    `pulumi:"listenPort"`
	User           string `pulumi:"user"`
	PrivateKeyPath string `pulumi:"privateKeyPath"`
	// Root is the host's own directory: what Ansible treats as this machine's /.
	Root string `pulumi:"root"`
	// AppPort is the port reserved for the service this machine runs: hosts
	// share one loopback address, so each gets its own.
	AppPort int `pulumi:"appPort"`
	// HostKey is the host's public key (known_hosts format without the host
	// name), so clients can check they reach this host and no other.
	HostKey string `pulumi:"hostKey"`
	Running bool   `pulumi:"running"`
}

const sshdPath = "/usr/sbin/sshd"

type hostDir string

func (d hostDir) path(name string) string { return filepath.Join(string(d), name) }
func (d hostDir) config() string          { return d.path("sshd_config") }
func (d hostDir) pidFile() string         { return d.path("sshd.pid") }
func (d hostDir) clientKey() string       { return d.path("id_ed25519") }
func (d hostDir) root() string            { return d.path("root") }
func (d hostDir) appPortFile() string     { return d.path("app_port") }
func (d hostDir) hostKey() string         { return d.path("ssh_host_ed25519_key") }

func (d hostDir) publicHostKey() string {
	data, err := os.ReadFile(d.hostKey() + ".pub")
	if err != nil {
		return ""
	}
	// Drop the comment: "ssh-ed25519 AAAA... comment".
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return ""
	}
	return fields[0] + " " + fields[1]
}

func dirFor(ctx context.Context, name string) (hostDir, error) {
	cfg := infer.GetConfig[config.Config](ctx)
	if cfg.StateDir == "" {
		return "", errors.New("infraflow:stateDir is not set: point it at a directory for the SSH hosts (e.g. .infraflow/hosts)")
	}
	return hostDir(filepath.Join(cfg.StateDir, "ssh", name)), nil
}

// Create starts the host. A host of that name that is already running (left
// by a killed run) is adopted rather than started twice.
func (Host) Create(ctx context.Context, req infer.CreateRequest[HostArgs]) (infer.CreateResponse[HostState], error) {
	resp := infer.CreateResponse[HostState]{ID: req.Inputs.Name, Output: HostState{HostArgs: req.Inputs, Address: "127.0.0.1"}}
	if req.DryRun {
		return resp, nil
	}
	dir, err := dirFor(ctx, req.Inputs.Name)
	if err != nil {
		return resp, err
	}
	if state, ok := running(dir, req.Inputs); ok {
		resp.Output = state
		return resp, nil
	}
	if err := boot(ctx); err != nil {
		return resp, err
	}
	state, err := start(dir, req.Inputs)
	resp.Output = state
	return resp, err
}

// bootDelayEnv makes each new host take this long (a Go duration) before its
// sshd starts, as a virtual machine takes time to boot. Loopback hosts start
// in milliseconds; the crash tests need an apply long enough to stop the
// worker in the middle of it.
const bootDelayEnv = "INFRAFLOW_LOCAL_HOST_BOOT_DELAY"

func boot(ctx context.Context) error {
	v := os.Getenv(bootDelayEnv)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%s=%q: want a duration such as 5s", bootDelayEnv, v)
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Read reports whether the host still runs; a stopped host is gone.
func (Host) Read(ctx context.Context, req infer.ReadRequest[HostArgs, HostState]) (infer.ReadResponse[HostArgs, HostState], error) {
	dir, err := dirFor(ctx, req.ID)
	if err != nil {
		return infer.ReadResponse[HostArgs, HostState]{}, err
	}
	state, ok := running(dir, req.State.HostArgs)
	if !ok {
		return infer.ReadResponse[HostArgs, HostState]{}, nil
	}
	return infer.ReadResponse[HostArgs, HostState]{ID: req.ID, Inputs: state.HostArgs, State: state}, nil
}

// Delete stops sshd and removes the host's directory.
func (Host) Delete(ctx context.Context, req infer.DeleteRequest[HostState]) (infer.DeleteResponse, error) {
	dir, err := dirFor(ctx, req.ID)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	if pid, ok := livePID(dir); ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Powering off a machine ends everything it ran: the services Ansible
	// started there live under its directory.
	killProcessesUnder(string(dir))
	if err := os.RemoveAll(string(dir)); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("removing host %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, nil
}

func start(dir hostDir, in HostArgs) (HostState, error) {
	state := HostState{HostArgs: in, Address: "127.0.0.1", PrivateKeyPath: dir.clientKey(), Root: dir.root()}
	u, err := user.Current()
	if err != nil {
		return state, err
	}
	state.User = u.Username
	if err := os.MkdirAll(dir.root(), 0o755); err != nil {
		return state, err
	}
	for _, key := range []string{dir.hostKey(), dir.clientKey()} {
		if _, err := os.Stat(key); err == nil {
			continue
		}
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "infraflow-"+in.Name, "-f", key).CombinedOutput(); err != nil {
			return state, fmt.Errorf("ssh-keygen for host %s: %v: %s", in.Name, err, out)
		}
	}
	pub, err := os.ReadFile(dir.clientKey() + ".pub")
	if err != nil {
		return state, err
	}
	if err := os.WriteFile(dir.path("authorized_keys"), pub, 0o600); err != nil {
		return state, err
	}
	port := in.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return state, err
		}
	}
	state.ListenPort = port
	if state.AppPort, err = reserveAppPort(dir); err != nil {
		return state, err
	}
	config := strings.Join([]string{
		"Port " + strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey " + dir.hostKey(),
		"PidFile " + dir.pidFile(),
		"AuthorizedKeysFile " + dir.path("authorized_keys"),
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"UsePAM no",
		// The host directory is not root-owned in every setup; keys are ours alone.
		"StrictModes no",
		"Subsystem sftp internal-sftp",
		// These hosts share the worker's computer and user: bash run by sshd
		// would source the user's ~/.bashrc for every command Ansible sends
		// (with pyenv there, a locked rehash each time, minutes per playbook).
		// bash skips it when SHLVL says it is not the first shell.
		"SetEnv SHLVL=1",
		"LogLevel VERBOSE",
	}, "\n") + "\n"
	if err := os.WriteFile(dir.config(), []byte(config), 0o600); err != nil {
		return state, err
	}
	// sshd refuses to start without its privilege separation directory.
	_ = os.MkdirAll("/run/sshd", 0o755)
	// sshd daemonizes: the host outlives this provider process, as a machine
	// outlives the tool that created it.
	if out, err := exec.Command(sshdPath, "-f", dir.config(), "-E", dir.path("sshd.log")).CombinedOutput(); err != nil {
		return state, fmt.Errorf("starting sshd for host %s: %v: %s", in.Name, err, out)
	}
	if err := waitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return state, fmt.Errorf("host %s: %w (log: %s)", in.Name, err, dir.path("sshd.log"))
	}
	state.HostKey = dir.publicHostKey()
	state.Running = true
	return state, nil
}

// running reports the host's state if its sshd is alive and answering.
func running(dir hostDir, in HostArgs) (HostState, bool) {
	if _, ok := livePID(dir); !ok {
		return HostState{}, false
	}
	config, err := os.ReadFile(dir.config())
	if err != nil {
		return HostState{}, false
	}
	port := 0
	for _, line := range strings.Split(string(config), "\n") {
		if v, ok := strings.CutPrefix(line, "Port "); ok {
			port, _ = strconv.Atoi(v)
		}
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return HostState{}, false
	}
	_ = conn.Close()
	u, _ := user.Current()
	appPort, _ := readAppPort(dir)
	return HostState{HostArgs: in, Address: "127.0.0.1", ListenPort: port, User: u.Username,
		PrivateKeyPath: dir.clientKey(), Root: dir.root(), AppPort: appPort, HostKey: dir.publicHostKey(), Running: true}, true
}

// reserveAppPort picks the host's service port once and keeps it in the host
// directory, so a restarted or adopted host answers on the same port.
func reserveAppPort(dir hostDir) (int, error) {
	if port, ok := readAppPort(dir); ok {
		return port, nil
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	return port, os.WriteFile(dir.appPortFile(), []byte(strconv.Itoa(port)+"\n"), 0o644)
}

func readAppPort(dir hostDir) (int, bool) {
	data, err := os.ReadFile(dir.appPortFile())
	if err != nil {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return port, err == nil && port > 0
}

func livePID(dir hostDir) (int, bool) {
	data, err := os.ReadFile(dir.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !alive(pid) {
		return 0, false
	}
	return pid, true
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func waitListening(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("sshd not listening on %s after 10s", addr)
}

// freePort picks a port below the kernel's ephemeral range: a port from
// listening on :0 is one an outgoing connection may take before sshd binds it
// (the main module's internal/freeport does the same; this module cannot
// import it).
func freePort() (int, error) {
	hi := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) == 2 {
			if n, err := strconv.Atoi(fields[0]); err == nil && n > 2024 {
				hi = n
			}
		}
	}
	lo := max(1024, hi-12000)
	var lastErr error
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port below %d after 100 tries: %w", hi, lastErr)
}

// killProcessesUnder SIGKILLs every process whose command line names a path
// inside dir.
func killProcessesUnder(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
