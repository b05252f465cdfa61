package kubernetes

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/infraflow/infraflow/stacks/stackconfig"
)

// Name is the program's name in stacks.Catalog.
const Name = "kubernetes"

// Config is the program's configuration, checked against stacks.Catalog.
type Config struct {
	App, Namespace, Image    string
	Replicas, Port           int
	MinReplicas, MaxReplicas int
	CPUTargetPercent         int
	MinAvailable             int
	CPURequest, MemRequest   string
	// Kubeconfig and Context select the cluster; empty means the
	// provider's defaults (KUBECONFIG, ~/.kube/config, current context).
	Kubeconfig, Context string
}

// LoadConfig reads the stack configuration, checked as ProvisionStack checks it.
func LoadConfig(ctx *pulumi.Context) (Config, error) {
	values, err := stackconfig.Load(ctx, Name)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		App:              values["app"].(string),
		Namespace:        values["namespace"].(string),
		Image:            values["image"].(string),
		Replicas:         values["replicas"].(int),
		Port:             values["port"].(int),
		MinReplicas:      values["minReplicas"].(int),
		MaxReplicas:      values["maxReplicas"].(int),
		CPUTargetPercent: values["cpuTargetPercent"].(int),
		MinAvailable:     values["minAvailable"].(int),
		CPURequest:       values["cpuRequest"].(string),
		MemRequest:       values["memoryRequest"].(string),
	}
	c.Kubeconfig, _ = values["kubeconfig"].(string)
	c.Context, _ = values["context"].(string)
	return c, nil
}
