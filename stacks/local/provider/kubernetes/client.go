// Package kubernetes manages Kubernetes objects with server-side apply and
// reads them back from the cluster, so refresh sees what is really there.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/infraflow/infraflow/stacks/local/provider/config"
)

// fieldManager owns the fields infraflow applies; a person's `kubectl scale`
// is then a conflict that the next apply takes back (Force).
const fieldManager = "infraflow"

func applyOptions() metav1.ApplyOptions {
	return metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
}

func clientset(ctx context.Context) (*kubernetes.Clientset, error) {
	cfg := infer.GetConfig[config.Config](ctx)
	if cfg.Kubeconfig == "" {
		return nil, errors.New("infraflow:kubeconfig is not set: point it at the local control plane's kubeconfig (.infraflow/kube/kubeconfig)")
	}
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rest.Timeout = 30 * time.Second
	return kubernetes.NewForConfig(rest)
}

// waitGone polls until get reports NotFound, so a destroy ends with the object
// really gone (namespaces take a while to finalize).
func waitGone(ctx context.Context, what string, get func(context.Context) error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still exists 2 minutes after deletion (last read: %v)", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func deleteOptions() metav1.DeleteOptions {
	policy := metav1.DeletePropagationForeground
	return metav1.DeleteOptions{PropagationPolicy: &policy}
}
