package scaletarget

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/infraflow/infraflow/internal/scaleop"
)

// Kubernetes scales a Deployment or StatefulSet through its scale subresource.
type Kubernetes struct {
	Client    kubernetes.Interface
	Kind      string // "deployment" or "statefulset"
	Namespace string
	Object    string
}

// KubernetesClient builds a client from a kubeconfig file.
func KubernetesClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	return kubernetes.NewForConfig(cfg)
}

// Name implements Target.
func (k *Kubernetes) Name() string {
	return fmt.Sprintf("kubernetes/%s/%s/%s", k.Namespace, k.Kind, k.Object)
}

func (k *Kubernetes) getScale(ctx context.Context) (*autoscalingv1.Scale, error) {
	var s *autoscalingv1.Scale
	var err error
	switch k.Kind {
	case "deployment":
		s, err = k.Client.AppsV1().Deployments(k.Namespace).GetScale(ctx, k.Object, metav1.GetOptions{})
	case "statefulset":
		s, err = k.Client.AppsV1().StatefulSets(k.Namespace).GetScale(ctx, k.Object, metav1.GetOptions{})
	default:
		return nil, fmt.Errorf("kubernetes target kind %q: want deployment or statefulset", k.Kind)
	}
	if apierrors.IsNotFound(err) {
		return nil, &ErrNotFound{What: k.Name()}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the scale of %s: %w", k.Name(), err)
	}
	return s, nil
}

func (k *Kubernetes) updateScale(ctx context.Context, s *autoscalingv1.Scale) error {
	var err error
	switch k.Kind {
	case "deployment":
		_, err = k.Client.AppsV1().Deployments(k.Namespace).UpdateScale(ctx, k.Object, s, metav1.UpdateOptions{FieldManager: "infraflow"})
	case "statefulset":
		_, err = k.Client.AppsV1().StatefulSets(k.Namespace).UpdateScale(ctx, k.Object, s, metav1.UpdateOptions{FieldManager: "infraflow"})
	}
	return err
}

// Replicas implements Target: the desired count (spec), which is what a
// decision changes.
func (k *Kubernetes) Replicas(ctx context.Context) (int, error) {
	s, err := k.getScale(ctx)
	if err != nil {
		return 0, err
	}
	return int(s.Spec.Replicas), nil
}

// CompareAndSet implements Target. The update carries the resourceVersion it
// read, so the API server refuses it if anything changed the object in
// between; then it reads again and decides again.
func (k *Kubernetes) CompareAndSet(ctx context.Context, expected, desired int) (scaleop.Result, error) {
	for attempt := 0; attempt < 5; attempt++ {
		s, err := k.getScale(ctx)
		if err != nil {
			return scaleop.Result{}, err
		}
		current := int(s.Spec.Replicas)
		outcome, write := decide(current, expected, desired)
		if !write {
			return scaleop.Result{Outcome: outcome, Expected: expected, Desired: desired, Current: current}, nil
		}
		s.Spec.Replicas = int32(desired)
		err = k.updateScale(ctx, s)
		if apierrors.IsConflict(err) {
			continue // changed between read and write: read again
		}
		if err != nil {
			return scaleop.Result{}, fmt.Errorf("scaling %s from %d to %d: %w", k.Name(), current, desired, err)
		}
		return scaleop.Result{Outcome: scaleop.Applied, Expected: expected, Desired: desired, Current: desired}, nil
	}
	return scaleop.Result{}, fmt.Errorf("scaling %s: the object kept changing under 5 attempts", k.Name())
}
