package tests

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/localenv"
)

// sharedControlPlane is the one local Kubernetes control plane that every
// platform of this test binary deploys to (worker --dev --kubeconfig), instead
// of a control plane per platform: 17 of them cost a run about 4 CPU-minutes
// of its 30 on 2 cores. The tests keep out of each other's way by their stack
// names and namespaces, each of which belongs to one test. It starts with the
// first platform that needs it and stops after the last test.
var sharedControlPlane struct {
	once sync.Once
	dir  string
	kube *localenv.Kubernetes
	err  error
}

// sharedKubernetes starts the shared control plane on first use.
func sharedKubernetes(t *testing.T) *localenv.Kubernetes {
	t.Helper()
	s := &sharedControlPlane
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "infraflow-e2e-kube-"); s.err != nil {
			return
		}
		addr, err := freeport.Addr("127.0.0.1")
		if err != nil {
			s.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		s.kube, s.err = localenv.StartKubernetes(ctx, localenv.KubernetesOptions{DataDir: s.dir, APIServerAddress: addr})
	})
	if s.err != nil {
		t.Fatalf("the shared local control plane: %v", s.err)
	}
	return s.kube
}

// stopSharedKubernetes stops the shared control plane, if it started.
func stopSharedKubernetes() {
	s := &sharedControlPlane
	if s.kube != nil {
		s.kube.Stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// sharedControlPlaneLogs is where the shared control plane's programs log.
func sharedControlPlaneLogs() string {
	return filepath.Join(sharedControlPlane.dir, "logs")
}

// kubeconfig is the kubeconfig of the control plane p deploys to.
func (p *platform) kubeconfig() string {
	if p.sharedKube {
		return sharedKubernetes(p.t).Kubeconfig
	}
	return filepath.Join(p.dataDir, "kube", "kubeconfig")
}

// withOwnKubernetes gives the platform a control plane of its own, started and
// killed with worker --dev, for a test that kills the whole platform on
// purpose (the soak's server kills).
func (p *platform) withOwnKubernetes() *platform {
	p.sharedKube = false
	p.kube = freeAddr(p.t)
	return p
}

// usesKubernetes says whether the platform deploys to a control plane.
func (p *platform) usesKubernetes() bool {
	return p.sharedKube || p.kube != ""
}

// kubeArgs are worker --dev's arguments for the platform's control plane.
func (p *platform) kubeArgs() []string {
	if p.sharedKube {
		return []string{"--kube-address", "", "--kubeconfig", p.kubeconfig()}
	}
	return []string{"--kube-address", p.kube}
}

// waitAvailable waits until the Deployment has the given number of available
// replicas: a game day starts only on a steady system.
func (p *platform) waitAvailable(t *testing.T, namespace, name string, replicas int) {
	t.Helper()
	want := strconv.Itoa(replicas)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if out, _ := p.kubectl(t, "get", "deployment", name, "-n", namespace, "-o", "jsonpath={.status.availableReplicas}"); out == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s/%s never had %d available replicas:\n%s", namespace, name, replicas,
				p.mustKubectl(t, "get", "pods", "-n", namespace, "-o", "wide"))
		}
	}
}
