package kubernetes

import (
	"context"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-go-provider/infer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
)

// Service is a ClusterIP Service in front of the pods of one app.
type Service struct{}

// ServiceArgs are a Service's declared fields.
type ServiceArgs struct {
	Namespace  string `pulumi:"namespace" provider:"replaceOnChanges"`
	Name       string `pulumi:"name" provider:"replaceOnChanges"`
	App        string `pulumi:"app"`
	Port       int    `pulumi:"port"`
	TargetPort int    `pulumi:"targetPort,optional"`
}

// ServiceState is what the cluster holds.
type ServiceState struct {
	ServiceArgs
	ClusterIP string `pulumi:"clusterIP"`
}

// Create applies the Service, adopting an existing one.
func (Service) Create(ctx context.Context, req infer.CreateRequest[ServiceArgs]) (infer.CreateResponse[ServiceState], error) {
	state, err := applyService(ctx, req.Inputs, req.DryRun)
	return infer.CreateResponse[ServiceState]{ID: req.Inputs.Namespace + "/" + req.Inputs.Name, Output: state}, err
}

// Update re-applies the declared fields.
func (Service) Update(ctx context.Context, req infer.UpdateRequest[ServiceArgs, ServiceState]) (infer.UpdateResponse[ServiceState], error) {
	state, err := applyService(ctx, req.Inputs, req.DryRun)
	return infer.UpdateResponse[ServiceState]{Output: state}, err
}

func applyService(ctx context.Context, in ServiceArgs, dryRun bool) (ServiceState, error) {
	state := ServiceState{ServiceArgs: in}
	if dryRun {
		return state, nil
	}
	cs, err := clientset(ctx)
	if err != nil {
		return state, err
	}
	target := in.TargetPort
	if target == 0 {
		target = in.Port
	}
	apply := corev1apply.Service(in.Name, in.Namespace).
		WithLabels(map[string]string{"app": in.App, "app.kubernetes.io/managed-by": "infraflow"}).
		WithSpec(corev1apply.ServiceSpec().
			WithSelector(map[string]string{"app": in.App}).
			WithPorts(corev1apply.ServicePort().WithName("http").WithPort(int32(in.Port)).WithTargetPort(intstr.FromInt32(int32(target)))))
	svc, err := cs.CoreV1().Services(in.Namespace).Apply(ctx, apply, applyOptions())
	if err != nil {
		return state, fmt.Errorf("applying service %s/%s: %w", in.Namespace, in.Name, err)
	}
	state.ClusterIP = svc.Spec.ClusterIP
	return state, nil
}

// Read reports the Service as the cluster has it, or gone.
func (Service) Read(ctx context.Context, req infer.ReadRequest[ServiceArgs, ServiceState]) (infer.ReadResponse[ServiceArgs, ServiceState], error) {
	var none infer.ReadResponse[ServiceArgs, ServiceState]
	cs, err := clientset(ctx)
	if err != nil {
		return none, err
	}
	ns, name := splitID(req.ID)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err := ignoreNotFound(err); err != nil {
		return none, fmt.Errorf("reading service %s: %w", req.ID, err)
	}
	if err != nil || svc.DeletionTimestamp != nil {
		return none, nil
	}
	args := ServiceArgs{Namespace: svc.Namespace, Name: svc.Name, App: svc.Spec.Selector["app"], TargetPort: req.State.TargetPort}
	if len(svc.Spec.Ports) > 0 {
		args.Port = int(svc.Spec.Ports[0].Port)
		if req.State.TargetPort != 0 {
			args.TargetPort = svc.Spec.Ports[0].TargetPort.IntValue()
		}
	}
	return infer.ReadResponse[ServiceArgs, ServiceState]{
		ID: req.ID, Inputs: args, State: ServiceState{ServiceArgs: args, ClusterIP: svc.Spec.ClusterIP},
	}, nil
}

// Delete deletes the Service and waits until it is gone.
func (Service) Delete(ctx context.Context, req infer.DeleteRequest[ServiceState]) (infer.DeleteResponse, error) {
	cs, err := clientset(ctx)
	if err != nil {
		return infer.DeleteResponse{}, err
	}
	ns, name := splitID(req.ID)
	if err := ignoreNotFound(cs.CoreV1().Services(ns).Delete(ctx, name, deleteOptions())); err != nil {
		return infer.DeleteResponse{}, fmt.Errorf("deleting service %s: %w", req.ID, err)
	}
	return infer.DeleteResponse{}, waitGone(ctx, "service "+req.ID, func(ctx context.Context) error {
		_, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
}

// splitID splits a namespaced resource ID "namespace/name".
func splitID(id string) (namespace, name string) {
	namespace, name, _ = strings.Cut(id, "/")
	return namespace, name
}
