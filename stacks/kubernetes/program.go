// Package kubernetes is infraflow's app stack for any Kubernetes cluster,
// written with the official pulumi-kubernetes SDK: a namespace, a Deployment,
// a Service, a HorizontalPodAutoscaler on CPU (autoscaling/v2) and a
// PodDisruptionBudget for one app.
//
// It needs the kubernetes provider plugin to run; here it is unit-tested with
// Pulumi's mocks.
package kubernetes

import (
	"fmt"

	k8s "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	autoscalingv2 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/autoscaling/v2"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program declares the stack from its configuration.
func Program(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err
	}
	outputs, err := declare(ctx, cfg)
	if err != nil {
		return err
	}
	for name, value := range outputs {
		ctx.Export(name, value)
	}
	return nil
}

// declare creates the resources and returns the stack outputs.
func declare(ctx *pulumi.Context, cfg Config) (pulumi.Map, error) {
	// An explicit provider, so the stack's own kubeconfig/context pick the
	// cluster; left empty, the provider uses KUBECONFIG or ~/.kube/config.
	providerArgs := &k8s.ProviderArgs{}
	if cfg.Kubeconfig != "" {
		providerArgs.Kubeconfig = pulumi.ToSecret(pulumi.String(cfg.Kubeconfig)).(pulumi.StringOutput)
	}
	if cfg.Context != "" {
		providerArgs.Context = pulumi.String(cfg.Context)
	}
	provider, err := k8s.NewProvider(ctx, "kubernetes", providerArgs)
	if err != nil {
		return nil, err
	}
	opt := pulumi.Provider(provider)

	// The selector is only app=<name> (stable for the Deployment's life);
	// the pods and objects carry the recommended labels too.
	selector := pulumi.StringMap{"app": pulumi.String(cfg.App)}
	labels := pulumi.StringMap{
		"app":                          pulumi.String(cfg.App),
		"app.kubernetes.io/name":       pulumi.String(cfg.App),
		"app.kubernetes.io/instance":   pulumi.String(ctx.Stack()),
		"app.kubernetes.io/managed-by": pulumi.String("infraflow"),
	}
	meta := func(namespace pulumi.StringInput) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(cfg.App), Namespace: namespace, Labels: labels}
	}

	ns, err := corev1.NewNamespace(ctx, cfg.Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(cfg.Namespace),
			Labels: pulumi.StringMap{"app.kubernetes.io/managed-by": pulumi.String("infraflow")},
		},
	}, opt)
	if err != nil {
		return nil, err
	}
	namespace := ns.Metadata.Name().Elem()

	// The HPA takes .spec.replicas over (through the scale subresource); with
	// server-side apply the next update that sets replicas would then fail
	// on a field conflict. infraflow's configured replicas win at each
	// update (the forecast-and-scale loop applies replicas this way), and
	// the HPA adjusts from there.
	depMeta := meta(namespace)
	depMeta.Annotations = pulumi.StringMap{"pulumi.com/patchForce": pulumi.String("true")}
	dep, err := appsv1.NewDeployment(ctx, cfg.App, &appsv1.DeploymentArgs{
		Metadata: depMeta,
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(cfg.Replicas),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: selector},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String(cfg.App),
						Image: pulumi.String(cfg.Image),
						Ports: corev1.ContainerPortArray{&corev1.ContainerPortArgs{
							Name: pulumi.String("http"), ContainerPort: pulumi.Int(cfg.Port), Protocol: pulumi.String("TCP"),
						}},
						// The HPA's CPU utilisation is a share of this request.
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String(cfg.CPURequest), "memory": pulumi.String(cfg.MemRequest)},
						},
						ReadinessProbe: &corev1.ProbeArgs{
							TcpSocket:     &corev1.TCPSocketActionArgs{Port: pulumi.Int(cfg.Port)},
							PeriodSeconds: pulumi.Int(5),
						},
					}},
				},
			},
		},
	}, opt)
	if err != nil {
		return nil, err
	}

	svc, err := corev1.NewService(ctx, cfg.App, &corev1.ServiceArgs{
		Metadata: meta(namespace),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("ClusterIP"),
			Selector: selector,
			Ports: corev1.ServicePortArray{&corev1.ServicePortArgs{
				Name: pulumi.String("http"), Port: pulumi.Int(cfg.Port), TargetPort: pulumi.Int(cfg.Port), Protocol: pulumi.String("TCP"),
			}},
		},
	}, opt)
	if err != nil {
		return nil, err
	}

	hpa, err := autoscalingv2.NewHorizontalPodAutoscaler(ctx, cfg.App, &autoscalingv2.HorizontalPodAutoscalerArgs{
		Metadata: meta(namespace),
		Spec: &autoscalingv2.HorizontalPodAutoscalerSpecArgs{
			ScaleTargetRef: &autoscalingv2.CrossVersionObjectReferenceArgs{
				ApiVersion: pulumi.String("apps/v1"),
				Kind:       pulumi.String("Deployment"),
				Name:       dep.Metadata.Name().Elem(),
			},
			MinReplicas: pulumi.Int(cfg.MinReplicas),
			MaxReplicas: pulumi.Int(cfg.MaxReplicas),
			Metrics: autoscalingv2.MetricSpecArray{&autoscalingv2.MetricSpecArgs{
				Type: pulumi.String("Resource"),
				Resource: &autoscalingv2.ResourceMetricSourceArgs{
					Name: pulumi.String("cpu"),
					Target: &autoscalingv2.MetricTargetArgs{
						Type:               pulumi.String("Utilization"),
						AverageUtilization: pulumi.Int(cfg.CPUTargetPercent),
					},
				},
			}},
		},
	}, opt)
	if err != nil {
		return nil, err
	}

	pdb, err := policyv1.NewPodDisruptionBudget(ctx, cfg.App, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(namespace),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MinAvailable: pulumi.Int(cfg.MinAvailable),
			Selector:     &metav1.LabelSelectorArgs{MatchLabels: selector},
		},
	}, opt)
	if err != nil {
		return nil, err
	}

	return pulumi.Map{
		"namespace":        namespace,
		"deployment":       pulumi.Sprintf("%s/%s", namespace, dep.Metadata.Name().Elem()),
		"service":          svc.Metadata.Name().Elem(),
		"serviceClusterIP": svc.Spec.ClusterIP().Elem(),
		"serviceUrl":       pulumi.Sprintf("http://%s.%s.svc.cluster.local:%d", svc.Metadata.Name().Elem(), namespace, cfg.Port),
		"hpa":              hpa.Metadata.Name().Elem(),
		"pdb":              pdb.Metadata.Name().Elem(),
		"image":            pulumi.String(cfg.Image),
		"selector":         pulumi.String(fmt.Sprintf("app=%s", cfg.App)),
	}, nil
}
