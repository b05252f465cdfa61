package localenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// KubernetesOptions say where the local control plane keeps its state and listens.
type KubernetesOptions struct {
	// DataDir holds etcd's data, the PKI, logs and the kubeconfig.
	DataDir string
	// APIServerAddress is kube-apiserver's host:port.
	APIServerAddress string
	// KwokStagesDir holds kwok's stage configs (fast node and pod lifecycles);
	// empty means the stages/ directory `make tools` puts beside the kwok binary.
	KwokStagesDir string
	// APIServerOnly starts etcd and kube-apiserver alone: enough for API-level
	// work such as the scale subresource, when no pods need to run.
	APIServerOnly bool
}

// Kubernetes is a running local control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, which fakes the nodes and
// the pods' containers.
type Kubernetes struct {
	Kubeconfig string
	Server     string
	procs      []*managedProcess // in start order
}

// ControlPlaneBinaries are the programs StartKubernetes runs; `make tools` builds them.
var ControlPlaneBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrBinariesMissing says the control plane cannot start on this machine yet.
var ErrBinariesMissing = errors.New("local Kubernetes binaries missing")

const adminToken = "infraflow-local-admin"

// StartKubernetes starts the control plane, waits until the API server is
// ready, and registers the fake node that takes the pods.
func StartKubernetes(ctx context.Context, opts KubernetesOptions) (k *Kubernetes, err error) {
	var missing []string
	binaries := ControlPlaneBinaries
	if opts.APIServerOnly {
		binaries = binaries[:2]
	}
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s (run `make tools`)", ErrBinariesMissing, strings.Join(missing, ", "))
	}
	if err := portFree(opts.APIServerAddress); err != nil {
		return nil, err
	}
	host, _, err := splitHostPort(opts.APIServerAddress, "Kubernetes API address")
	if err != nil {
		return nil, err
	}
	p := pki{dir: filepath.Join(opts.DataDir, "pki")}
	if err := p.ensure(); err != nil {
		return nil, fmt.Errorf("creating the local Kubernetes PKI: %w", err)
	}
	k = &Kubernetes{Server: "https://" + opts.APIServerAddress, Kubeconfig: filepath.Join(opts.DataDir, "kubeconfig")}
	if err := writeKubeconfig(k.Kubeconfig, k.Server, p.caCert()); err != nil {
		return nil, err
	}
	tokens := filepath.Join(opts.DataDir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(adminToken+",infraflow-admin,infraflow-admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()

	etcdClient, etcdPeer := freeAddrOn(host), freeAddrOn(host)
	logs := filepath.Join(opts.DataDir, "logs")
	start := func(name string, args ...string) error {
		proc, err := startManaged(logs, name, args...)
		if err == nil {
			k.procs = append(k.procs, proc)
		}
		return err
	}
	if err := start("etcd",
		"--data-dir", filepath.Join(opts.DataDir, "etcd"),
		"--listen-client-urls", "http://"+etcdClient, "--advertise-client-urls", "http://"+etcdClient,
		"--listen-peer-urls", "http://"+etcdPeer, "--initial-advertise-peer-urls", "http://"+etcdPeer,
		"--initial-cluster", "default=http://"+etcdPeer,
		"--quota-backend-bytes", "1073741824",
	); err != nil {
		return k, err
	}
	_, port, _ := net.SplitHostPort(opts.APIServerAddress)
	if err := start("kube-apiserver",
		"--etcd-servers", "http://"+etcdClient,
		"--bind-address", host, "--advertise-address", host, "--secure-port", port,
		"--tls-cert-file", p.serverCert(), "--tls-private-key-file", p.serverKey(), "--client-ca-file", p.caCert(),
		"--token-auth-file", tokens,
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p.saPub(), "--service-account-signing-key-file", p.saKey(),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--allow-privileged",
	); err != nil {
		return k, err
	}
	if err := k.waitReady(ctx, p.caCert()); err != nil {
		return k, err
	}
	if opts.APIServerOnly {
		return k, nil
	}
	if err := start("kube-controller-manager",
		"--kubeconfig", k.Kubeconfig, "--authentication-kubeconfig", k.Kubeconfig, "--authorization-kubeconfig", k.Kubeconfig,
		"--bind-address", host, "--secure-port", freePortOn(host),
		"--service-account-private-key-file", p.saKey(), "--root-ca-file", p.caCert(),
		"--leader-elect=false", "--controllers", "*,-nodeipam,-cloud-node-lifecycle,-route,-service",
	); err != nil {
		return k, err
	}
	if err := start("kube-scheduler",
		"--kubeconfig", k.Kubeconfig, "--authentication-kubeconfig", k.Kubeconfig, "--authorization-kubeconfig", k.Kubeconfig,
		"--bind-address", host, "--secure-port", freePortOn(host), "--leader-elect=false",
	); err != nil {
		return k, err
	}
	if opts.KwokStagesDir == "" {
		opts.KwokStagesDir = stagesBesideKwok()
	}
	kwokArgs := []string{"--kubeconfig", k.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--server-address", freeAddrOn(host), "--cidr", "10.244.0.0/16", "--node-ip", host}
	stages, _ := filepath.Glob(filepath.Join(opts.KwokStagesDir, "*.yaml"))
	if len(stages) == 0 {
		return k, fmt.Errorf("no kwok stage configs in %s (run `make tools`)", opts.KwokStagesDir)
	}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config", s)
	}
	// kwok v0.8.0 can die at start with "concurrent map writes": its node
	// and pod controllers build their CEL environments at the same moment,
	// and the CEL library keeps global maps. Without kwok no pod ever becomes
	// ready, so it is started again; it keeps no state of its own.
	kwok, err := startRestarting(kwokRestarts, logs, "kwok", kwokArgs...)
	if err != nil {
		return k, err
	}
	k.procs = append(k.procs, kwok)
	return k, k.ensureFakeNode(ctx)
}

// kwokRestarts bounds how often kwok is started again after dying on its own.
const kwokRestarts = 5

func stagesBesideKwok() string {
	kwok, err := exec.LookPath("kwok")
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(kwok); err == nil {
		kwok = real
	}
	return filepath.Join(filepath.Dir(kwok), "stages")
}

// Stop stops the control plane in reverse order: the API server before etcd.
func (k *Kubernetes) Stop() {
	for i := len(k.procs) - 1; i >= 0; i-- {
		k.procs[i].stop()
	}
	k.procs = nil
}

func (k *Kubernetes) waitReady(ctx context.Context, caFile string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		for _, p := range k.procs {
			if exited := p.exited(); exited != nil {
				return fmt.Errorf("%s exited while the API server was starting: %v (log: %s)", p.name, exited, p.logPath)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver not ready after 60s (%s); logs in %s", last, filepath.Dir(k.procs[len(k.procs)-1].logPath))
}

// writeKubeconfig writes a self-contained kubeconfig (the CA is embedded), so
// it works from any directory and can be copied elsewhere.
func writeKubeconfig(path, server, caFile string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: infraflow-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: infraflow-admin
  user:
    token: %s
contexts:
- name: infraflow-local
  context:
    cluster: infraflow-local
    user: infraflow-admin
current-context: infraflow-local
`, server, base64.StdEncoding.EncodeToString(ca), adminToken)
	return os.WriteFile(path, []byte(config), 0o600)
}

// managedProcess is one control-plane program, logging to its own file.
type managedProcess struct {
	name    string
	args    []string
	cred    *syscall.Credential
	logPath string
	done    chan struct{}
	err     error

	mu  sync.Mutex
	cmd *exec.Cmd
	// restarts left: a program that dies on its own is started again while
	// some are left, unless it is being stopped.
	restarts int
	stopping bool
}

func startManaged(logDir, name string, args ...string) (*managedProcess, error) {
	return startManagedAs(nil, logDir, name, args...)
}

// startRestarting is startManaged for a program that keeps no state of its
// own and is started again, up to restarts times, when it dies on its own.
func startRestarting(restarts int, logDir, name string, args ...string) (*managedProcess, error) {
	return startProcess(&managedProcess{name: name, args: args, restarts: restarts}, logDir)
}

// startManagedAs is startManaged running the program as another user (cred
// nil: as this process), for programs that refuse to run as root.
func startManagedAs(cred *syscall.Credential, logDir, name string, args ...string) (*managedProcess, error) {
	return startProcess(&managedProcess{name: name, args: args, cred: cred}, logDir)
}

func startProcess(p *managedProcess, logDir string) (*managedProcess, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	p.logPath = filepath.Join(logDir, filepath.Base(p.name)+".log")
	p.done = make(chan struct{})
	cmd, log, err := p.launch(os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	p.cmd = cmd
	go p.wait(cmd, log)
	return p, nil
}

// launch starts the program, its output going to its log (truncated at the
// first start, appended to after a restart).
func (p *managedProcess) launch(logMode int) (*exec.Cmd, *os.File, error) {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|logMode, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = log, log
	// If infraflow dies, even by SIGKILL, the control plane goes with it
	// instead of holding its ports against the next start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	return cmd, log, nil
}

// wait waits for the program to end and, while restarts are left and it is
// not being stopped, starts it again.
func (p *managedProcess) wait(cmd *exec.Cmd, log *os.File) {
	for {
		err := cmd.Wait()
		p.mu.Lock()
		if p.stopping || p.restarts <= 0 {
			_ = log.Close()
			p.err = err
			p.mu.Unlock()
			close(p.done)
			return
		}
		p.restarts--
		fmt.Fprintf(log, "infraflow: %s ended on its own (%v); starting it again\n", filepath.Base(p.name), err)
		_ = log.Close()
		next, nextLog, startErr := p.launch(os.O_APPEND)
		if startErr != nil {
			p.err = fmt.Errorf("%v; then %w", err, startErr)
			p.mu.Unlock()
			close(p.done)
			return
		}
		cmd, log, p.cmd = next, nextLog, next
		p.mu.Unlock()
	}
}

// exited returns the exit error once the process has ended, else nil.
func (p *managedProcess) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return errors.New("exited")
		}
		return p.err
	default:
		return nil
	}
}

func (p *managedProcess) stop() {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// signal sends sig to the running program, which is then not restarted.
func (p *managedProcess) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = true
	_ = p.cmd.Process.Signal(sig)
}

func freeAddrOn(host string) string {
	return net.JoinHostPort(host, freePortOn(host))
}

func freePortOn(host string) string {
	port, err := freePort(host)
	if err != nil {
		return "0"
	}
	return fmt.Sprint(port)
}

// fakeNode is the node kwok pretends to run; pods scheduled to it become
// Running without containers.
const fakeNode = "kwok-node-0"

// ensureFakeNode registers the kwok-managed node if it is not there yet. A
// control plane that has just started can time out a write (etcd stalled on
// the disk: make test saw "etcdserver: request timed out" fail every test
// that shared it), so an answer that says try again is tried again.
func (k *Kubernetes) ensureFakeNode(ctx context.Context) error {
	cs, err := k.Clientset()
	if err != nil {
		return err
	}
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Steps: 7} // about a minute
	return retry.OnError(backoff, func(err error) bool {
		return ctx.Err() == nil && (apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
			apierrors.IsInternalError(err) || apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err))
	}, func() error { return registerFakeNode(ctx, cs) })
}

func registerFakeNode(ctx context.Context, cs *kubernetes.Clientset) error {
	_, err := cs.CoreV1().Nodes().Get(ctx, fakeNode, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading node %s: %w", fakeNode, err)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fakeNode,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": fakeNode, "kubernetes.io/os": "linux"},
		},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", fakeNode, err)
	}
	return nil
}

// Clientset is a client-go client for the local control plane.
func (k *Kubernetes) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", k.Kubeconfig, err)
	}
	return kubernetes.NewForConfig(cfg)
}
