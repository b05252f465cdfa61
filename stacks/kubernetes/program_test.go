package kubernetes

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

const (
	providerType   = "pulumi:providers:kubernetes"
	namespaceType  = "kubernetes:core/v1:Namespace"
	deploymentType = "kubernetes:apps/v1:Deployment"
	serviceType    = "kubernetes:core/v1:Service"
	hpaType        = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
	pdbType        = "kubernetes:policy/v1:PodDisruptionBudget"
)

// run runs the program's declare on the mocks and awaits its outputs.
func run(t *testing.T, config map[string]string) (map[string]Registration, map[string]internals.UnsafeAwaitOutputResult) {
	t.Helper()
	mocks := &Mocks{}
	var outputs pulumi.Map
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		cfg, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		outputs, err = declare(ctx, cfg)
		return err
	}, pulumi.WithMocks(Project, TestStack, mocks), WithConfig(config))
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	byType := map[string]Registration{}
	for _, r := range mocks.Registrations() {
		if _, dup := byType[r.Type]; dup {
			t.Errorf("two resources of type %s", r.Type)
		}
		byType[r.Type] = r
	}
	if len(byType) != 6 {
		t.Errorf("registered %d types, want the provider and 5 objects: %v", len(byType), byType)
	}
	resolved := map[string]internals.UnsafeAwaitOutputResult{}
	for name, value := range outputs {
		r, err := internals.UnsafeAwaitOutput(context.Background(), pulumi.ToOutput(value))
		if err != nil || !r.Known {
			t.Fatalf("output %s: %+v %v", name, r, err)
		}
		resolved[name] = r
	}
	return byType, resolved
}

// at walks a plain value by keys and indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

type expectation struct {
	app, namespace, image, cpu, memory string
	replicas, port, min, max, target   int
	minAvailable                       int
}

func check(t *testing.T, objs map[string]Registration, want expectation) {
	t.Helper()
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	ns, dep, svc, hpa, pdb := objs[namespaceType].Plain(), objs[deploymentType].Plain(), objs[serviceType].Plain(), objs[hpaType].Plain(), objs[pdbType].Plain()

	eq("namespace name", at(ns, "metadata", "name"), want.namespace)
	for typ, obj := range map[string]map[string]any{deploymentType: dep, serviceType: svc, hpaType: hpa, pdbType: pdb} {
		eq(typ+" name", at(obj, "metadata", "name"), want.app)
		eq(typ+" namespace", at(obj, "metadata", "namespace"), want.namespace)
		eq(typ+" managed-by label", at(obj, "metadata", "labels", "app.kubernetes.io/managed-by"), "infraflow")
	}
	eq("deployment apiVersion", at(dep, "apiVersion"), "apps/v1")
	eq("deployment patchForce", at(dep, "metadata", "annotations", "pulumi.com/patchForce"), "true")
	eq("service annotations", at(svc, "metadata", "annotations"), nil)

	// Deployment: replicas, image, and a selector its own pods match.
	eq("replicas", at(dep, "spec", "replicas"), float64(want.replicas))
	selector, _ := at(dep, "spec", "selector", "matchLabels").(map[string]any)
	eq("selector", selector, map[string]any{"app": want.app})
	podLabels, _ := at(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range selector {
		if podLabels[k] != v {
			t.Errorf("pod labels %v do not match the selector %v", podLabels, selector)
		}
	}
	containers, _ := at(dep, "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("containers %v", containers)
	}
	c := containers[0]
	eq("image", at(c, "image"), want.image)
	eq("container port", at(c, "ports", 0, "containerPort"), float64(want.port))
	eq("container port name", at(c, "ports", 0, "name"), "http")
	eq("cpu request", at(c, "resources", "requests", "cpu"), want.cpu)
	eq("memory request", at(c, "resources", "requests", "memory"), want.memory)
	eq("readiness probe port", at(c, "readinessProbe", "tcpSocket", "port"), float64(want.port))

	// Service: selects the Deployment's pods and targets the container port.
	eq("service selector", at(svc, "spec", "selector"), selector)
	eq("service type", at(svc, "spec", "type"), "ClusterIP")
	eq("service port", at(svc, "spec", "ports", 0, "port"), float64(want.port))
	eq("service targetPort", at(svc, "spec", "ports", 0, "targetPort"), at(c, "ports", 0, "containerPort"))

	// HPA: scales this Deployment between min and max on CPU.
	eq("hpa target", at(hpa, "spec", "scaleTargetRef"), map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": want.app})
	eq("hpa apiVersion", at(hpa, "apiVersion"), "autoscaling/v2")
	eq("hpa min", at(hpa, "spec", "minReplicas"), float64(want.min))
	eq("hpa max", at(hpa, "spec", "maxReplicas"), float64(want.max))
	eq("hpa metrics", at(hpa, "spec", "metrics"), []any{map[string]any{
		"type": "Resource",
		"resource": map[string]any{"name": "cpu", "target": map[string]any{
			"type": "Utilization", "averageUtilization": float64(want.target),
		}},
	}})

	// PDB: the same pods, keeping minAvailable.
	eq("pdb selector", at(pdb, "spec", "selector", "matchLabels"), selector)
	eq("pdb minAvailable", at(pdb, "spec", "minAvailable"), float64(want.minAvailable))
	eq("pdb apiVersion", at(pdb, "apiVersion"), "policy/v1")

	// Everything goes through the explicit provider.
	p := objs[providerType]
	ref := "urn:pulumi:" + TestStack + "::" + Project + "::pulumi:providers:kubernetes::kubernetes::" + p.ID
	for typ, r := range objs {
		if typ != providerType && r.Provider != ref {
			t.Errorf("%s uses provider %q, want %q", typ, r.Provider, ref)
		}
	}
}

func TestDefaults(t *testing.T) {
	objs, outputs := run(t, map[string]string{"image": "nginx:1.27"})
	check(t, objs, expectation{
		app: "web", namespace: "infraflow-apps", image: "nginx:1.27", cpu: "100m", memory: "128Mi",
		replicas: 2, port: 80, min: 2, max: 5, target: 70, minAvailable: 1,
	})
	if p := objs[providerType].Plain(); len(p) != 0 {
		t.Errorf("provider inputs %v, want none (the worker's kubeconfig)", p)
	}
	want := map[string]any{
		"namespace": "infraflow-apps", "deployment": "infraflow-apps/web", "service": "web", "hpa": "web", "pdb": "web",
		"serviceClusterIP": "10.96.12.34", "serviceUrl": "http://web.infraflow-apps.svc.cluster.local:80",
		"image": "nginx:1.27", "selector": "app=web",
	}
	got := map[string]any{}
	for k, v := range outputs {
		got[k] = v.Value
		if v.Secret {
			t.Errorf("output %s is secret", k)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs\n got %v\nwant %v", got, want)
	}
}

func TestCustomSettingsAndCluster(t *testing.T) {
	objs, outputs := run(t, map[string]string{
		"app": "api", "namespace": "shop", "image": "ghcr.io/acme/api:2.1.0", "replicas": "3", "port": "8080",
		"minReplicas": "2", "maxReplicas": "5", "cpuTargetPercent": "55", "minAvailable": "1",
		"cpuRequest": "250m", "memoryRequest": "256Mi", "kubeconfig": "/etc/infraflow/prod.kubeconfig", "context": "prod",
	})
	check(t, objs, expectation{
		app: "api", namespace: "shop", image: "ghcr.io/acme/api:2.1.0", cpu: "250m", memory: "256Mi",
		replicas: 3, port: 8080, min: 2, max: 5, target: 55, minAvailable: 1,
	})
	p := objs[providerType]
	if kc := p.Inputs["kubeconfig"]; !kc.IsSecret() || kc.SecretValue().Element.V != "/etc/infraflow/prod.kubeconfig" {
		t.Errorf("provider kubeconfig %v, want the configured one as a secret", kc)
	}
	if c := p.Inputs["context"]; !c.IsString() || c.StringValue() != "prod" {
		t.Errorf("provider context %v, want prod", c)
	}
	if outputs["deployment"].Value != "shop/api" || outputs["serviceUrl"].Value != "http://api.shop.svc.cluster.local:8080" {
		t.Errorf("outputs %v", outputs)
	}
}

func TestConfigRefusals(t *testing.T) {
	cases := map[string]struct {
		config map[string]string
		want   string
	}{
		"no image":              {map[string]string{}, `config "image": is required`},
		"blank image":           {map[string]string{"image": " "}, `config "image": " " is not an image reference`},
		"app not a name":        {map[string]string{"image": "nginx:1.27", "app": "My_App"}, `config "app": "My_App" is not a Kubernetes name`},
		"namespace not a name":  {map[string]string{"image": "nginx:1.27", "namespace": "-x"}, `config "namespace"`},
		"port out of range":     {map[string]string{"image": "nginx:1.27", "port": "70000"}, `config "port": is 70000, above the maximum 65535`},
		"replicas not a number": {map[string]string{"image": "nginx:1.27", "replicas": "2.5"}, `config "replicas": got "2.5", want integer`},
		"min above max":         {map[string]string{"image": "nginx:1.27", "minReplicas": "6"}, `config "minReplicas": is 6, above maxReplicas 5`},
		"replicas above max":    {map[string]string{"image": "nginx:1.27", "replicas": "10"}, `config "replicas": is 10, outside minReplicas..maxReplicas (2..5)`},
		"target above 100":      {map[string]string{"image": "nginx:1.27", "cpuTargetPercent": "150"}, `config "cpuTargetPercent": is 150, above the maximum 100`},
		"pdb blocks drains":     {map[string]string{"image": "nginx:1.27", "minAvailable": "2"}, `config "minAvailable": is 2, not below minReplicas 2`},
		"bad cpu":               {map[string]string{"image": "nginx:1.27", "cpuRequest": "lots"}, `config "cpuRequest": "lots" is not a CPU quantity`},
		"bad memory":            {map[string]string{"image": "nginx:1.27", "memoryRequest": "128MB"}, `config "memoryRequest": "128MB" is not a memory quantity`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			mocks := &Mocks{}
			err := RunProgram(c.config, mocks)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if regs := mocks.Registrations(); len(regs) != 0 {
				t.Errorf("registered %d resources although the configuration is refused", len(regs))
			}
		})
	}
}
