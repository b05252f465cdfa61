package scaletarget

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/infraflow/infraflow/internal/scaleop"
)

// AutoScalingGroup scales an AWS Auto Scaling group's desired capacity.
//
// The Auto Scaling API has no conditional update, so the compare-and-set reads
// the desired capacity and sets it only if it is still the expected one: a
// change landing between the two calls (milliseconds) is not detected. A
// retried or duplicated tick still never applies twice, because it finds the
// desired count already there.
type AutoScalingGroup struct {
	Client *autoscaling.Client
	Group  string
}

// AutoScalingClient builds a client; endpoint, when set, replaces AWS's (moto).
// Credentials come from the environment, as the AWS SDK reads them, unless
// localOnly says the endpoint is a local moto, which takes any.
func AutoScalingClient(ctx context.Context, region, endpoint string, localOnly bool) (*autoscaling.Client, error) {
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if localOnly {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("moto", "moto", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// Name implements Target.
func (g *AutoScalingGroup) Name() string { return "aws-asg/" + g.Group }

func (g *AutoScalingGroup) describe(ctx context.Context) (desired, minSize, maxSize int, err error) {
	out, err := g.Client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{g.Group}})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("describing %s: %w", g.Name(), err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return 0, 0, 0, &ErrNotFound{What: g.Name()}
	}
	a := out.AutoScalingGroups[0]
	return int(aws.ToInt32(a.DesiredCapacity)), int(aws.ToInt32(a.MinSize)), int(aws.ToInt32(a.MaxSize)), nil
}

// Replicas implements Target: the desired capacity.
func (g *AutoScalingGroup) Replicas(ctx context.Context) (int, error) {
	n, _, _, err := g.describe(ctx)
	return n, err
}

// CompareAndSet implements Target.
func (g *AutoScalingGroup) CompareAndSet(ctx context.Context, expected, desired int) (scaleop.Result, error) {
	current, minSize, maxSize, err := g.describe(ctx)
	if err != nil {
		return scaleop.Result{}, err
	}
	outcome, write := decide(current, expected, desired)
	if !write {
		return scaleop.Result{Outcome: outcome, Expected: expected, Desired: desired, Current: current}, nil
	}
	if desired < minSize || desired > maxSize {
		return scaleop.Result{}, &ErrOutOfRange{What: g.Name(), Desired: desired, Min: minSize, Max: maxSize}
	}
	if _, err := g.Client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(g.Group), DesiredCapacity: aws.Int32(int32(desired)), HonorCooldown: aws.Bool(false),
	}); err != nil {
		return scaleop.Result{}, fmt.Errorf("setting the desired capacity of %s to %d: %w", g.Name(), desired, err)
	}
	return scaleop.Result{Outcome: scaleop.Applied, Expected: expected, Desired: desired, Current: desired}, nil
}

// ErrOutOfRange is a desired count outside the group's own bounds.
type ErrOutOfRange struct {
	What              string
	Desired, Min, Max int
}

func (e *ErrOutOfRange) Error() string {
	return fmt.Sprintf("%s allows %d to %d instances, not %d: align policy.minReplicas/maxReplicas with the group", e.What, e.Min, e.Max, e.Desired)
}
