// Package local is the offline stack: an app in the local Kubernetes control
// plane and SSH hosts on loopback, through infraflow's own provider
// (pulumi-resource-infraflow, in ./provider).
package local

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/infraflow/infraflow/internal/toolchain"
)

// Resource types of pulumi-resource-infraflow.
const (
	NamespaceType  = "infraflow:kubernetes:Namespace"
	DeploymentType = "infraflow:kubernetes:Deployment"
	ServiceType    = "infraflow:kubernetes:Service"
	HostType       = "infraflow:ssh:Host"
)

type namespace struct {
	pulumi.CustomResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

type deployment struct {
	pulumi.CustomResourceState
	ReadyReplicas pulumi.IntOutput `pulumi:"readyReplicas"`
}

type service struct {
	pulumi.CustomResourceState
	ClusterIP pulumi.StringOutput `pulumi:"clusterIP"`
}

type host struct {
	pulumi.CustomResourceState
	Address        pulumi.StringOutput `pulumi:"address"`
	ListenPort     pulumi.IntOutput    `pulumi:"listenPort"`
	User           pulumi.StringOutput `pulumi:"user"`
	PrivateKeyPath pulumi.StringOutput `pulumi:"privateKeyPath"`
	Root           pulumi.StringOutput `pulumi:"root"`
	AppPort        pulumi.IntOutput    `pulumi:"appPort"`
	HostKey        pulumi.StringOutput `pulumi:"hostKey"`
}

// namespaceLabels label the stack's namespace.
var namespaceLabels = map[string]string{"app.kubernetes.io/managed-by": "infraflow"}

// Program declares the stack from its configuration (already checked against
// stacks.Catalog by the workflow).
func Program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	app := cfg.Get("app")
	ns := cfg.Get("namespace")
	replicas := cfg.GetInt("replicas")
	port := cfg.GetInt("port")
	hosts := cfg.GetInt("hosts")
	version := pulumi.Version(toolchain.ProviderVersion)

	var nsRes namespace
	if err := ctx.RegisterResource(NamespaceType, ns, pulumi.Map{
		"name":   pulumi.String(ns),
		"labels": pulumi.ToStringMap(namespaceLabels),
	}, &nsRes, version); err != nil {
		return err
	}
	var dep deployment
	if err := ctx.RegisterResource(DeploymentType, app, pulumi.Map{
		"namespace": nsRes.Name,
		"name":      pulumi.String(app),
		"image":     pulumi.String(cfg.Get("image")),
		"replicas":  pulumi.Int(replicas),
		"port":      pulumi.Int(port),
	}, &dep, version); err != nil {
		return err
	}
	servicePort := port
	if cfg.GetBool("failOnPurpose") {
		servicePort = 0 // Kubernetes refuses port 0: the apply fails after the Deployment exists.
	}
	var svc service
	if err := ctx.RegisterResource(ServiceType, app, pulumi.Map{
		"namespace":  nsRes.Name,
		"name":       pulumi.String(app),
		"app":        pulumi.String(app),
		"port":       pulumi.Int(servicePort),
		"targetPort": pulumi.Int(port),
	}, &svc, version, pulumi.DependsOn([]pulumi.Resource{&dep})); err != nil {
		return err
	}

	var inventory []pulumi.Output
	var hostList pulumi.Array
	for i := range hosts {
		// Hosts are machines of this stack: the name carries the stack so two
		// stacks of the same app never share (or destroy) each other's hosts.
		name := fmt.Sprintf("%s-%s-host-%d", ctx.Stack(), app, i+1)
		var h host
		if err := ctx.RegisterResource(HostType, name, pulumi.Map{"name": pulumi.String(name)}, &h, version); err != nil {
			return err
		}
		entry := pulumi.All(h.Address, h.ListenPort, h.User, h.PrivateKeyPath, h.Root, h.AppPort).ApplyT(func(v []any) string {
			return fmt.Sprintf("    %s:\n      ansible_host: %s\n      ansible_port: %d\n      ansible_user: %s\n      ansible_ssh_private_key_file: %s\n      infraflow_root: %s\n      app_port: %d\n",
				name, v[0], v[1], v[2], v[3], v[4], v[5])
		})
		inventory = append(inventory, entry)
		hostList = append(hostList, pulumi.Map{
			"name": pulumi.String(name), "address": h.Address, "port": h.ListenPort, "user": h.User,
			"privateKeyPath": h.PrivateKeyPath, "root": h.Root, "appPort": h.AppPort, "hostKey": h.HostKey,
		})
	}

	ctx.Export("namespace", nsRes.Name)
	ctx.Export("deployment", pulumi.Sprintf("%s/%s", ns, app))
	ctx.Export("readyReplicas", dep.ReadyReplicas)
	ctx.Export("serviceClusterIP", svc.ClusterIP)
	ctx.Export("hosts", hostList)
	// An Ansible YAML inventory of the hosts, for the configuration step.
	ctx.Export("inventory", pulumi.All(toAny(inventory)...).ApplyT(func(entries []any) string {
		var b strings.Builder
		b.WriteString("all:\n  hosts:\n")
		for _, e := range entries {
			b.WriteString(e.(string))
		}
		if len(entries) == 0 {
			return "all:\n  hosts: {}\n"
		}
		return b.String()
	}))
	return nil
}

func toAny(outs []pulumi.Output) []any {
	out := make([]any, len(outs))
	for i, o := range outs {
		out[i] = o
	}
	return out
}
