package kubernetes

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1apply "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	metav1apply "k8s.io/client-go/applyconfigurations/meta/v1"
)

// Deployment is a one-container Kubernetes Deployment whose pods carry app=<name>.
type Deployment struct{}

// DeploymentArgs are a Deployment's declared fields.
type DeploymentArgs struct {
	Namespace string `pulumi:"namespace" provider:"replaceOnChanges"`
	Name      string `pulumi:"name" provider:"replaceOnChanges"`
	Image     string `pulumi:"image"`
	Replicas  int    `pulumi:"replicas"`
	Port      int    `pulumi:"port,optional"`
}

// DeploymentState is what the cluster holds.
type DeploymentState struct {
	DeploymentArgs
	ReadyReplicas int `pulumi:"readyReplicas"`
}

// rolloutTimeout bounds the wait for every replica to be ready.
const rolloutTimeout = 2 * time.Minute

// Create applies the Deployment (adopting an existing one) and waits for it.
func (Deployment) Create(ctx context.Context, req infer.CreateRequest[DeploymentArgs]) (infer.CreateResponse[DeploymentState], error) {
	state, err := applyDeployment(ctx, req.Inputs, req.DryRun)
	return infer.CreateResponse[DeploymentState]{ID: req.Inputs.Namespace + "/" + req.Inputs.Name, Output: state}, err
}

// Update re-applies the declared fields and waits for the rollout.
func (Deployment) Update(ctx context.Context, req infer.UpdateRequest[DeploymentArgs, DeploymentState]) (infer.UpdateResponse[DeploymentState], error) {
	state, err := applyDeployment(ctx, req.Inputs, req.DryRun)
	return infer.UpdateResponse[DeploymentState]{Output: state}, err
}

func applyDeployment(ctx context.Context, in DeploymentArgs, dryRun bool) (DeploymentState, error) {
	state := DeploymentState{DeploymentArgs: in}
	if dryRun {
		return state, nil
	}
	cs, err := clientset(ctx)
	if err != nil {
		return state, err
	}
	labels := map[string]string{"app": in.Name}
	container := corev1apply.Container().WithName("app").WithImage(in.Image)
	if in.Port > 0 {
		container = container.WithPorts(corev1apply.ContainerPort().WithContainerPort(int32(in.Port)))
	}
	apply := appsv1apply.Deployment(in.Name, in.Namespace).
		WithLabels(map[string]string{"app": in.Name, "app.kubernetes.io/managed-by": "infraflow"}).
		WithSpec(appsv1apply.DeploymentSpec().
			WithReplicas(int32(in.Replicas)).
			WithSelector(metav1apply.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1apply.PodTemplateSpec().WithLabels(labels).
				WithSpec(corev1apply.PodSpec().WithContainers(container))))
	d, err := cs.AppsV1().Deployments(in.Namespace).Apply(ctx, apply, applyOptions())
	if err != nil {
		return state, fmt.Errorf("applying deployment %s/%s: %w", in.Namespace, in.Name, err)
	}
	d, err = waitRolledOut(ctx, func(ctx context.Context) (*appsv1.Deployment, error) {
		return cs.AppsV1().Deployments(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
	}, d.Generation)
	if d != nil {
		state.ReadyReplicas = int(d.Status.ReadyReplicas)
	}
	return state, err
}

func waitRolledOut(ctx context.Context, get func(context.Context) (*appsv1.Deployment, error), generation int64) (*appsv1.Deployment, error) {
	deadline := time.Now().Add(rolloutTimeout)
	for {
		d, err := get(ctx)
		if err != nil {
			return nil, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration >= generation && d.Status.UpdatedReplicas == want && d.Status.ReadyReplicas == want && d.Status.Replicas == want {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("deployment %s/%s: %d of %d replicas ready after %s", d.Namespace, d.Name, d.Status.ReadyReplicas, want, rolloutTimeout)
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Read reports the Deployment as the cluster has it, or gone.
func (Deployment) Read(ctx context.Context, req infer.ReadRequest[DeploymentArgs, DeploymentState]) (infer.ReadResponse[DeploymentArgs, DeploymentState], error) {
	var none infer.ReadResponse[DeploymentArgs, DeploymentState]
	cs, err := clientset(ctx)
	if err != nil {
		return none, err
	}
	ns, name := splitID(req.ID)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err := ignoreNotFound(err); err != nil {
		return none, fmt.Errorf("reading deployment %s: %w", req.ID, err)
	}
	if err != nil || d.DeletionTimestamp != nil {
		return none, nil
	}
	args := DeploymentArgs{Namespace: d.Namespace, Name: d.Name, Port: req.State.Port}
	if d.Spec.Replicas != nil {
		args.Replicas = int(*d.Spec.Replicas)
	}
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		args.Image = cs[0].Image
		args.Port = 0
		if len(cs[0].Ports) > 0 {
			args.Port = int(cs[0].Ports[0].ContainerPort)
		}
	}
	return infer.ReadResponse[DeploymentArgs, DeploymentState]{
		ID: req.ID, Inputs: args, State: DeploymentState{DeploymentArgs: args, ReadyReplicas: int(d.Status.ReadyReplicas)},
	}, nil
}

// Delete deletes the Deployment (and, in the foreground, its pods) and waits.
func (Deployment) Delete(ctx context.Context, req infer.DeleteRequest[DeploymentState]) (infer.DeleteResponse, error) {
	cs, err := clientset(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	ns, name := splitID(req.ID)
	if err := ignoreNotFound(cs.AppsV1().Deployments(ns).Delete(ctx, name, deleteOptions())); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("deleting deployment %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, waitGone(ctx, "deployment "+req.ID, func(ctx context.Context) error {
		_, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
}
