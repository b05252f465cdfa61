package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/infraflow/infraflow/internal/scaletarget"
)

func (a *Activities) awsTarget(_ context.Context, ref ScaleTargetRef) (scaletarget.Target, error) {
	return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("AWS Auto Scaling target %s: not built yet", ref.Name), ErrTypeScaleNotAllowed, nil)
}
