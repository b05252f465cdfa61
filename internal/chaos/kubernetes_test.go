package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/infraflow/infraflow/internal/freeport"
	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/testtier"
)

// apiServer starts etcd and a real kube-apiserver (no controllers: pods
// created here stay pending, and deleted ones are not recreated).
func apiServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	testtier.PinnedTools(t, "etcd and kube-apiserver")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, err := freeport.Addr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	kube, err := localenv.StartKubernetes(ctx, localenv.KubernetesOptions{DataDir: t.TempDir(), APIServerAddress: addr, APIServerOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kube.Stop)
	cs, err := kube.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createPods(t *testing.T, cs kubernetes.Interface, namespace, app string, n int) {
	t.Helper()
	for i := range n {
		createPod(t, cs, namespace, fmt.Sprintf("%s-%d", app, i), app)
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, namespace, name, app string) *corev1.Pod {
	t.Helper()
	pod, err := cs.CoreV1().Pods(namespace).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "nginx:1.27"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func podNames(t *testing.T, cs kubernetes.Interface, namespace, selector string) []string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

func TestPodDeleteChoosesBySeedRespectsTheBlastRadiusAndIsIdempotent(t *testing.T) {
	cs := apiServer(t)
	ctx := context.Background()
	const ns = "game"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller-manager creates the namespace's default service account,
	// which admission wants for every pod.
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createPods(t, cs, ns, "web", 10)
	createPods(t, cs, ns, "db", 2)
	web := podNames(t, cs, ns, "app=web")
	k := &Kubernetes{Client: cs}

	fault := PodDelete{Name: "gameday-k1-0", Namespace: ns, Selector: "app=web", Selection: Selection{Count: 5, MaxFraction: 0.3, Seed: 42}}
	first, err := k.DeletePods(ctx, fault)
	if err != nil {
		t.Fatal(err)
	}
	expected, _ := fault.Selection.choose(web, "pods")
	if first.Matched != 10 || first.Wanted != 5 || first.Limit != 3 || !first.Capped || !slices.Equal(first.Deleted, expected.Chosen) || first.AlreadyInjected {
		t.Fatalf("delete 5 of 10 with a 0.3 blast radius: %+v, want 3 deleted (%v), capped", first, expected.Chosen)
	}
	if !strings.Contains(first.Undo, "controllers") {
		t.Errorf("undo note %q: want it to say the controllers recreate the pods", first.Undo)
	}
	left := podNames(t, cs, ns, "app=web")
	if len(left) != 7 || slices.ContainsFunc(first.Deleted, func(n string) bool { return slices.Contains(left, n) }) {
		t.Fatalf("web pods left %v after deleting %v", left, first.Deleted)
	}
	if db := podNames(t, cs, ns, "app=db"); len(db) != 2 {
		t.Errorf("db pods %v: the selector must keep the fault off them", db)
	}

	// A controller recreates a deleted pod under its name (a StatefulSet
	// does); the retried activity must finish the recorded choice and touch
	// neither the new pod nor any other.
	recreated := createPod(t, cs, ns, first.Deleted[0], "web")
	retried, err := k.DeletePods(ctx, fault)
	if err != nil || !retried.AlreadyInjected || !slices.Equal(retried.Deleted, first.Deleted) {
		t.Fatalf("retried delete: %+v %v, want the recorded choice", retried, err)
	}
	if got, err := cs.CoreV1().Pods(ns).Get(ctx, recreated.Name, metav1.GetOptions{}); err != nil || got.UID != recreated.UID {
		t.Errorf("the recreated pod %s: %v; the retry must not delete it", recreated.Name, err)
	}
	if left := podNames(t, cs, ns, "app=web"); len(left) != 8 {
		t.Errorf("web pods after the retry: %v, want the 7 untouched and the recreated one", left)
	}

	undone, err := k.UndoPodDelete(ctx, PodDeleteRef{Name: fault.Name, Namespace: ns})
	if err != nil || !undone.Removed || !strings.Contains(undone.Note, "controllers") {
		t.Errorf("undo: %+v %v", undone, err)
	}
	if again, err := k.UndoPodDelete(ctx, PodDeleteRef{Name: fault.Name, Namespace: ns}); err != nil || again.Removed {
		t.Errorf("second undo: %+v %v, want nothing removed and no error", again, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, recordKey(fault.Name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("record after undo: %v, want it gone", err)
	}

	// A percentage rounds up: 30% of 8 pods is 3 (2.4 → 3), within a 0.5 radius.
	byPercent, err := k.DeletePods(ctx, PodDelete{Name: "gameday-k1-1", Namespace: ns, Selector: "app=web", Selection: Selection{Percent: 30, MaxFraction: 0.5, Seed: 7}})
	if err != nil || byPercent.Matched != 8 || len(byPercent.Deleted) != 3 || byPercent.Capped {
		t.Errorf("30%% of 8: %+v %v, want 3 deleted", byPercent, err)
	}

	var notFound *NotFoundError
	if _, err := k.DeletePods(ctx, PodDelete{Name: "gameday-k1-2", Namespace: ns, Selector: "app=nothing", Selection: Selection{Count: 1, MaxFraction: 1}}); !errors.As(err, &notFound) {
		t.Errorf("no matching pods: err = %v, want NotFoundError", err)
	}
	var inputErr *InputError
	if _, err := k.DeletePods(ctx, PodDelete{Name: "gameday-k1-3", Namespace: ns, Selector: "app=db", Selection: Selection{Count: 1, MaxFraction: 0.4}}); !errors.As(err, &inputErr) || inputErr.Field != "maxFraction" || !strings.Contains(inputErr.Fix, "0.5") {
		t.Errorf("0.4 of 2 pods: err = %v, want a refusal naming maxFraction and 0.5", err)
	}
	if db := podNames(t, cs, ns, "app=db"); len(db) != 2 {
		t.Errorf("db pods %v after a refused fault", db)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, recordKey("gameday-k1-3"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused fault left a record: %v", err)
	}
}

func TestWorkloadProbeComparesAvailableReplicas(t *testing.T) {
	cs := apiServer(t)
	ctx := context.Background()
	replicas := int32(3)
	labels := map[string]string{"app": "web"}
	d, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubernetes{Client: cs}
	probe := WorkloadProbe{Kind: Deployment, Name: "web"}
	// No controller runs: nothing is available yet.
	m, err := k.ProbeWorkload(ctx, probe)
	if err != nil || m.WithinTolerance || m.Value != 0 || m.Desired != 3 || m.Tolerance != ">= 3" || !strings.Contains(m.Detail, "0 available") {
		t.Fatalf("fresh deployment: %+v %v, want 0 available of 3, out of tolerance", m, err)
	}
	// What the deployment controller would write once two pods are available.
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}
	if _, err := cs.AppsV1().Deployments("default").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if m, err := k.ProbeWorkload(ctx, probe); err != nil || m.WithinTolerance || m.Value != 2 || m.Ready != 2 {
		t.Errorf("2 of 3 available: %+v %v, want out of tolerance against the desired 3", m, err)
	}
	two := 2.0
	if m, err := k.ProbeWorkload(ctx, WorkloadProbe{Kind: Deployment, Name: "web", Op: GreaterEqual, Threshold: &two}); err != nil || !m.WithinTolerance || m.Tolerance != ">= 2" {
		t.Errorf("2 available >= 2: %+v %v, want within tolerance", m, err)
	}
	var notFound *NotFoundError
	if _, err := k.ProbeWorkload(ctx, WorkloadProbe{Kind: StatefulSet, Name: "web"}); !errors.As(err, &notFound) {
		t.Errorf("missing statefulset: err = %v, want NotFoundError", err)
	}
	var inputErr *InputError
	if _, err := k.ProbeWorkload(ctx, WorkloadProbe{Kind: "daemonset", Name: "web"}); !errors.As(err, &inputErr) || inputErr.Field != "kind" {
		t.Errorf("daemonset: err = %v, want an InputError naming kind", err)
	}
}
