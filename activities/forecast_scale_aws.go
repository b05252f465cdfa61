package activities

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaletarget"
)

// autoScalingClient reaches the AWS Auto Scaling API that scale targets and
// game days act on (moto under --dev).
func (a *Activities) autoScalingClient(ctx context.Context) (*autoscaling.Client, error) {
	return scaletarget.AutoScalingClient(ctx, a.Scale.AWSRegion, a.Scale.AWSEndpoint, a.Scale.AWSLocalMoto)
}

func (a *Activities) awsTarget(ctx context.Context, ref scaleop.ScaleTargetRef) (scaletarget.Target, error) {
	c, err := a.autoScalingClient(ctx)
	if err != nil {
		return nil, err
	}
	return &scaletarget.AutoScalingGroup{Client: c, Group: ref.Name}, nil
}
