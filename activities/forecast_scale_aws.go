package activities

import (
	"context"

	"github.com/infraflow/infraflow/internal/scaleop"
	"github.com/infraflow/infraflow/internal/scaletarget"
)

func (a *Activities) awsTarget(ctx context.Context, ref scaleop.ScaleTargetRef) (scaletarget.Target, error) {
	c, err := scaletarget.AutoScalingClient(ctx, a.Scale.AWSRegion, a.Scale.AWSEndpoint, a.Scale.AWSLocalMoto)
	if err != nil {
		return nil, err
	}
	return &scaletarget.AutoScalingGroup{Client: c, Group: ref.Name}, nil
}
