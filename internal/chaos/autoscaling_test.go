package chaos

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/infraflow/infraflow/internal/localenv"
	"github.com/infraflow/infraflow/internal/scaletarget"
	"github.com/infraflow/infraflow/internal/testtier"
)

// motoGroups starts moto's server (the machine image's copy) and returns an
// engine on it and a function making Auto Scaling groups there.
func motoGroups(t *testing.T) (*AutoScaling, func(name string, desired int32)) {
	t.Helper()
	testtier.RealTools(t, "moto's server")
	ctx := context.Background()
	moto, err := localenv.StartMoto(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatalf("%v; PlatformCheck reports moto", err)
	}
	t.Cleanup(moto.Stop)
	c, err := scaletarget.AutoScalingClient(ctx, "us-east-1", moto.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("lc"), ImageId: aws.String("ami-12c6146b"), InstanceType: aws.String("t3.micro"),
	}); err != nil {
		t.Fatal(err)
	}
	create := func(name string, desired int32) {
		t.Helper()
		if _, err := c.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name), LaunchConfigurationName: aws.String("lc"),
			MinSize: aws.Int32(1), MaxSize: aws.Int32(50), DesiredCapacity: aws.Int32(desired), AvailabilityZones: []string{"us-east-1a"},
		}); err != nil {
			t.Fatal(err)
		}
	}
	return &AutoScaling{Client: c}, create
}

func groupState(t *testing.T, a *AutoScaling, name string) (ids []string, desired int32, tags []types.TagDescription) {
	t.Helper()
	g, err := a.describe(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range g.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	slices.Sort(ids)
	return ids, aws.ToInt32(g.DesiredCapacity), g.Tags
}

func TestInstanceTerminationOnMotoIsCappedReplacedAndIdempotent(t *testing.T) {
	a, createGroup := motoGroups(t)
	ctx := context.Background()
	createGroup("web-asg", 4)
	before, _, _ := groupState(t, a, "web-asg")

	healthy, err := a.ProbeGroup(ctx, GroupProbe{Group: "web-asg"})
	if err != nil || !healthy.WithinTolerance || healthy.Value != 4 || healthy.Desired != 4 || healthy.Unit != "instances" {
		t.Fatalf("probe of a fresh group: %+v %v, want 4 InService >= 4 desired", healthy, err)
	}

	fault := InstanceTermination{Name: "gameday-a1-0", Group: "web-asg", Selection: Selection{Count: 3, MaxFraction: 0.5, Seed: 11}}
	first, err := a.TerminateInstances(ctx, fault)
	if err != nil {
		t.Fatal(err)
	}
	expected, _ := fault.Selection.choose(before, "instances")
	if first.Matched != 4 || first.Wanted != 3 || first.Limit != 2 || !first.Capped || !slices.Equal(first.Terminated, expected.Chosen) || first.AlreadyInjected {
		t.Fatalf("terminate 3 of 4 with a 0.5 blast radius: %+v, want 2 (%v), capped", first, expected.Chosen)
	}
	after, desired, _ := groupState(t, a, "web-asg")
	t.Logf("instances before %v, terminated %v, after %v", before, first.Terminated, after)
	if desired != 4 || len(after) != 4 || slices.ContainsFunc(first.Terminated, func(id string) bool { return slices.Contains(after, id) }) {
		t.Fatalf("after termination: desired %d, instances %v; want desired kept at 4 and the terminated ones replaced", desired, after)
	}
	if m, err := a.ProbeGroup(ctx, GroupProbe{Group: "web-asg"}); err != nil || !m.WithinTolerance || m.Value != 4 {
		t.Errorf("probe after replacement: %+v %v, want 4 InService again", m, err)
	}

	retried, err := a.TerminateInstances(ctx, fault)
	if err != nil || !retried.AlreadyInjected || !slices.Equal(retried.Terminated, first.Terminated) || retried.Limit != 2 || !retried.Capped {
		t.Fatalf("retried termination: %+v %v, want the recorded choice and its counts", retried, err)
	}
	if again, _, _ := groupState(t, a, "web-asg"); !slices.Equal(again, after) {
		t.Errorf("instances after the retry %v, want %v untouched", again, after)
	}

	undone, err := a.UndoInstanceTermination(ctx, InstanceTerminationRef{Name: fault.Name, Group: "web-asg"})
	if err != nil || !undone.Removed || !strings.Contains(undone.Note, "replacements") {
		t.Errorf("undo: %+v %v", undone, err)
	}
	if _, _, tags := groupState(t, a, "web-asg"); len(tags) != 0 {
		t.Errorf("tags after undo: %+v, want the record gone", tags)
	}
	if again, err := a.UndoInstanceTermination(ctx, InstanceTerminationRef{Name: fault.Name, Group: "web-asg"}); err != nil || again.Removed {
		t.Errorf("second undo: %+v %v, want nothing removed and no error", again, err)
	}

	three := 3.0
	if m, err := a.ProbeGroup(ctx, GroupProbe{Group: "web-asg", Op: Less, Threshold: &three}); err != nil || m.WithinTolerance || !strings.Contains(m.Detail, "4 InService") {
		t.Errorf("4 InService < 3: %+v %v, want out of tolerance", m, err)
	}
	var notFound *NotFoundError
	if _, err := a.ProbeGroup(ctx, GroupProbe{Group: "nope"}); !errors.As(err, &notFound) {
		t.Errorf("missing group: err = %v, want NotFoundError", err)
	}
	if _, err := a.TerminateInstances(ctx, InstanceTermination{Name: "gameday-a1-1", Group: "nope", Selection: Selection{Count: 1, MaxFraction: 1}}); !errors.As(err, &notFound) {
		t.Errorf("terminating in a missing group: err = %v, want NotFoundError", err)
	}
}

// A choice longer than one tag value (256 characters) is spread over
// several tags and read back whole.
func TestInstanceTerminationRecordsALargeChoiceAcrossTags(t *testing.T) {
	a, createGroup := motoGroups(t)
	ctx := context.Background()
	createGroup("batch-asg", 30)
	fault := InstanceTermination{Name: "gameday-a2-0", Group: "batch-asg", Selection: Selection{Percent: 70, MaxFraction: 1, Seed: 3}}
	first, err := a.TerminateInstances(ctx, fault)
	if err != nil || len(first.Terminated) != 21 {
		t.Fatalf("70%% of 30: %+v %v, want 21 terminated", first, err)
	}
	_, _, tags := groupState(t, a, "batch-asg")
	if len(tags) < 3 {
		t.Errorf("record tags %d, want the counts and at least two tags of instance IDs", len(tags))
	}
	for _, tag := range tags {
		if len(aws.ToString(tag.Value)) > tagValueLimit {
			t.Errorf("tag %s holds %d characters, AWS allows %d", aws.ToString(tag.Key), len(aws.ToString(tag.Value)), tagValueLimit)
		}
	}
	retried, err := a.TerminateInstances(ctx, fault)
	if err != nil || !retried.AlreadyInjected || !slices.Equal(retried.Terminated, first.Terminated) {
		t.Errorf("retry: %d terminated (%v), want the same 21 read back from the tags", len(retried.Terminated), err)
	}
	if m, err := a.ProbeGroup(ctx, GroupProbe{Group: "batch-asg"}); err != nil || m.Value != 30 {
		t.Errorf("InService after replacement: %+v %v, want 30", m, err)
	}
}
