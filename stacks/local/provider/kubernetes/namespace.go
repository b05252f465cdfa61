package kubernetes

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi-go-provider/infer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
)

// Namespace is a Kubernetes namespace.
type Namespace struct{}

// NamespaceArgs are a namespace's declared fields.
type NamespaceArgs struct {
	Name   string            `pulumi:"name" provider:"replaceOnChanges"`
	Labels map[string]string `pulumi:"labels,optional"`
}

// NamespaceState is what the cluster holds.
type NamespaceState struct {
	NamespaceArgs
	UID string `pulumi:"uid"`
}

// Create applies the namespace; applying an existing one adopts it, which is
// what makes a retried `up` after a crash create nothing twice.
func (Namespace) Create(ctx context.Context, req infer.CreateRequest[NamespaceArgs]) (infer.CreateResponse[NamespaceState], error) {
	state, err := applyNamespace(ctx, req.Inputs, req.DryRun)
	return infer.CreateResponse[NamespaceState]{ID: req.Inputs.Name, Output: state}, err
}

// Update re-applies the declared fields.
func (Namespace) Update(ctx context.Context, req infer.UpdateRequest[NamespaceArgs, NamespaceState]) (infer.UpdateResponse[NamespaceState], error) {
	state, err := applyNamespace(ctx, req.Inputs, req.DryRun)
	return infer.UpdateResponse[NamespaceState]{Output: state}, err
}

func applyNamespace(ctx context.Context, in NamespaceArgs, dryRun bool) (NamespaceState, error) {
	state := NamespaceState{NamespaceArgs: in}
	if dryRun {
		return state, nil
	}
	cs, err := clientset(ctx)
	if err != nil {
		return state, err
	}
	ns, err := cs.CoreV1().Namespaces().Apply(ctx, corev1apply.Namespace(in.Name).WithLabels(in.Labels), applyOptions())
	if err != nil {
		return state, fmt.Errorf("applying namespace %s: %w", in.Name, err)
	}
	state.UID = string(ns.UID)
	return state, nil
}

// Read reports the namespace as the cluster has it: the declared labels' live
// values, or gone.
func (Namespace) Read(ctx context.Context, req infer.ReadRequest[NamespaceArgs, NamespaceState]) (infer.ReadResponse[NamespaceArgs, NamespaceState], error) {
	cs, err := clientset(ctx)
	if err != nil {
		return infer.ReadResponse[NamespaceArgs, NamespaceState]{}, err
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, req.ID, metav1.GetOptions{})
	if err := ignoreNotFound(err); err != nil {
		return infer.ReadResponse[NamespaceArgs, NamespaceState]{}, fmt.Errorf("reading namespace %s: %w", req.ID, err)
	}
	if err != nil || ns.DeletionTimestamp != nil {
		return infer.ReadResponse[NamespaceArgs, NamespaceState]{}, nil // gone
	}
	args := NamespaceArgs{Name: ns.Name, Labels: liveValues(req.State.Labels, ns.Labels)}
	return infer.ReadResponse[NamespaceArgs, NamespaceState]{
		ID: ns.Name, Inputs: args, State: NamespaceState{NamespaceArgs: args, UID: string(ns.UID)},
	}, nil
}

// Delete deletes the namespace and waits until it is gone.
func (Namespace) Delete(ctx context.Context, req infer.DeleteRequest[NamespaceState]) (infer.DeleteResponse, error) {
	cs, err := clientset(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	if err := ignoreNotFound(cs.CoreV1().Namespaces().Delete(ctx, req.ID, deleteOptions())); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("deleting namespace %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, waitGone(ctx, "namespace "+req.ID, func(ctx context.Context) error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, req.ID, metav1.GetOptions{})
		return err
	})
}

// liveValues keeps the live values of the keys infraflow declared, so labels
// that Kubernetes or others add are not drift.
func liveValues(declared, live map[string]string) map[string]string {
	if len(declared) == 0 {
		return nil
	}
	out := map[string]string{}
	for k := range declared {
		if v, ok := live[k]; ok {
			out[k] = v
		}
	}
	return out
}
