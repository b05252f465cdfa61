package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// AutoScaling terminates instances of AWS Auto Scaling groups and counts
// their in-service instances. Termination records its choice in tags on the
// group, so the worker needs autoscaling:CreateOrUpdateTags and DeleteTags
// besides DescribeAutoScalingGroups and TerminateInstanceInAutoScalingGroup.
type AutoScaling struct {
	Client *autoscaling.Client
}

// InstanceTermination terminates some of a group's InService instances
// without lowering its desired capacity, so the group launches replacements.
type InstanceTermination struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Selection
}

// InstanceTerminationResult says which instances the fault terminated.
type InstanceTerminationResult struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// Matched is how many instances were InService; Wanted, Limit and
	// Capped are as for pods.
	Matched    int      `json:"matched"`
	Wanted     int      `json:"wanted"`
	Limit      int      `json:"limit"`
	Capped     bool     `json:"capped"`
	Terminated []string `json:"terminated"`
	// AlreadyInjected says an earlier attempt had chosen these instances.
	AlreadyInjected bool   `json:"alreadyInjected"`
	Undo            string `json:"undo"`
}

// InstanceTerminationRef finds an instance termination to undo.
type InstanceTerminationRef struct {
	Name  string `json:"name"`
	Group string `json:"group"`
}

const instanceUndoNote = "none needed: the group keeps its desired capacity and launches replacements"

// A tag value holds at most 256 characters: the chosen instance IDs are
// spread over numbered tags, each key naming the fault by its record key.
const tagValueLimit = 256

func recordTagPrefix(fault string) string { return recordKey(fault) + ":" }

func (in InstanceTermination) validate() error {
	if err := checkFaultName(in.Name); err != nil {
		return err
	}
	if in.Group == "" {
		return &InputError{Field: "group", Problem: "is empty", Fix: "name the Auto Scaling group"}
	}
	return in.Selection.validate()
}

// TerminateInstances terminates the chosen instances
// (TerminateInstanceInAutoScalingGroup, ShouldDecrementDesiredCapacity
// false). The choice is tagged on the group before any instance is
// terminated; a retry finds the tags and only finishes that choice.
func (a *AutoScaling) TerminateInstances(ctx context.Context, in InstanceTermination) (InstanceTerminationResult, error) {
	if err := in.validate(); err != nil {
		return InstanceTerminationResult{}, err
	}
	group, err := a.describe(ctx, in.Group)
	if err != nil {
		return InstanceTerminationResult{}, err
	}
	result := InstanceTerminationResult{Name: in.Name, Group: in.Group, Undo: instanceUndoNote}
	inService := inServiceIDs(group)
	chosen, recorded := recordedInstances(group, in.Name)
	if recorded {
		var c choice
		_ = json.Unmarshal([]byte(recordedTag(group, recordTagPrefix(in.Name)+"choice")), &c)
		result.Matched, result.Wanted, result.Limit, result.Capped = c.Matched, c.Wanted, c.Limit, c.Capped
		result.Terminated, result.AlreadyInjected = chosen, true
	} else {
		if len(inService) == 0 {
			return result, &NotFoundError{What: fmt.Sprintf("InService instances in Auto Scaling group %s", in.Group), Fix: "wait for the group to launch instances, or check the group name"}
		}
		c, err := in.Selection.choose(inService, "instances")
		if err != nil {
			return result, err
		}
		result.Matched, result.Wanted, result.Limit, result.Capped, result.Terminated = c.Matched, c.Wanted, c.Limit, c.Capped, c.Chosen
		if err := a.writeRecord(ctx, in.Group, in.Name, c); err != nil {
			return result, err
		}
	}
	for _, id := range result.Terminated {
		// Gone from the group already: terminated by an earlier attempt.
		if !slices.ContainsFunc(group.Instances, func(i types.Instance) bool { return aws.ToString(i.InstanceId) == id }) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return result, err
		}
		if _, err := a.Client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false),
		}); err != nil {
			return result, fmt.Errorf("terminating instance %s of Auto Scaling group %s: %w", id, in.Group, err)
		}
	}
	return result, nil
}

// UndoInstanceTermination removes the fault's record tags. The instances
// are not brought back: the group replaces them.
func (a *AutoScaling) UndoInstanceTermination(ctx context.Context, ref InstanceTerminationRef) (UndoResult, error) {
	if err := checkFaultName(ref.Name); err != nil {
		return UndoResult{}, err
	}
	if ref.Group == "" {
		return UndoResult{}, &InputError{Field: "group", Problem: "is empty", Fix: "name the Auto Scaling group the fault was injected into"}
	}
	result := UndoResult{Name: ref.Name, Note: instanceUndoNote}
	group, err := a.describe(ctx, ref.Group)
	var gone *NotFoundError
	if errors.As(err, &gone) {
		result.Note = "the group is gone, and its record tags with it"
		return result, nil
	}
	if err != nil {
		return result, err
	}
	var tags []types.Tag
	for _, t := range group.Tags {
		if strings.HasPrefix(aws.ToString(t.Key), recordTagPrefix(ref.Name)) {
			tags = append(tags, types.Tag{Key: t.Key, ResourceId: aws.String(ref.Group), ResourceType: aws.String("auto-scaling-group")})
		}
	}
	if len(tags) == 0 {
		return result, nil
	}
	if _, err := a.Client.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: tags}); err != nil {
		return result, fmt.Errorf("removing the record tags of fault %s from Auto Scaling group %s: %w", ref.Name, ref.Group, err)
	}
	result.Removed = true
	return result, nil
}

func (a *AutoScaling) describe(ctx context.Context, name string) (types.AutoScalingGroup, error) {
	out, err := a.Client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return types.AutoScalingGroup{}, fmt.Errorf("describing Auto Scaling group %s: %w", name, err)
	}
	if len(out.AutoScalingGroups) == 0 {
		return types.AutoScalingGroup{}, &NotFoundError{What: "Auto Scaling group " + name, Fix: "check the group name and region"}
	}
	return out.AutoScalingGroups[0], nil
}

func inServiceIDs(group types.AutoScalingGroup) []string {
	var ids []string
	for _, i := range group.Instances {
		if i.LifecycleState == types.LifecycleStateInService {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	return ids
}

// writeRecord tags the group with the chosen instance IDs, space separated,
// in as many numbered tags as their length needs, and the counts it chose by.
func (a *AutoScaling) writeRecord(ctx context.Context, group, fault string, c choice) error {
	prefix := recordTagPrefix(fault)
	tag := func(key, value string) types.Tag {
		return types.Tag{Key: aws.String(prefix + key), Value: aws.String(value), ResourceId: aws.String(group),
			ResourceType: aws.String("auto-scaling-group"), PropagateAtLaunch: aws.Bool(false)}
	}
	counts := c
	counts.Chosen = nil
	summary, err := json.Marshal(counts)
	if err != nil {
		return err
	}
	tags := []types.Tag{tag("choice", string(summary))}
	var chunk []string
	flush := func() {
		if len(chunk) > 0 {
			tags = append(tags, tag("instances-"+strconv.Itoa(len(tags)-1), strings.Join(chunk, " ")))
			chunk = nil
		}
	}
	for _, id := range c.Chosen {
		if len(strings.Join(append(slices.Clone(chunk), id), " ")) > tagValueLimit {
			flush()
		}
		chunk = append(chunk, id)
	}
	flush()
	if _, err := a.Client.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: tags}); err != nil {
		return fmt.Errorf("recording the choice of fault %s in tags of Auto Scaling group %s: %w", fault, group, err)
	}
	return nil
}

// recordedInstances reads a fault's chosen instances back from the group's tags.
func recordedInstances(group types.AutoScalingGroup, fault string) ([]string, bool) {
	prefix := recordTagPrefix(fault) + "instances-"
	var ids []string
	found := false
	for _, t := range group.Tags {
		if strings.HasPrefix(aws.ToString(t.Key), prefix) {
			found = true
			ids = append(ids, strings.Fields(aws.ToString(t.Value))...)
		}
	}
	slices.Sort(ids)
	return ids, found
}

func recordedTag(group types.AutoScalingGroup, key string) string {
	for _, t := range group.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// GroupProbe holds an Auto Scaling group's InService instance count to Op
// Threshold, or to Op its desired capacity when Threshold is nil. Op
// defaults to >=.
type GroupProbe struct {
	Group     string   `json:"group"`
	Op        string   `json:"op,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
}

// GroupMeasurement is the InService count (Value) and the group's sizes.
type GroupMeasurement struct {
	Measurement
	Desired   int `json:"desired"`
	Instances int `json:"instances"`
}

// ProbeGroup counts the group's InService instances.
func (a *AutoScaling) ProbeGroup(ctx context.Context, p GroupProbe) (GroupMeasurement, error) {
	if p.Group == "" {
		return GroupMeasurement{}, &InputError{Field: "group", Problem: "is empty", Fix: "name the Auto Scaling group"}
	}
	if p.Op == "" {
		p.Op = GreaterEqual
	}
	if err := checkOperator("op", p.Op); err != nil {
		return GroupMeasurement{}, err
	}
	group, err := a.describe(ctx, p.Group)
	if err != nil {
		return GroupMeasurement{}, err
	}
	m := GroupMeasurement{Desired: int(aws.ToInt32(group.DesiredCapacity)), Instances: len(group.Instances)}
	threshold := float64(m.Desired)
	if p.Threshold != nil {
		threshold = *p.Threshold
	}
	inService := len(inServiceIDs(group))
	m.Measurement = measure(float64(inService), "instances", p.Op, threshold)
	if !m.WithinTolerance {
		m.Detail = fmt.Sprintf("Auto Scaling group %s has %d InService instances of %d (desired %d), want %s", p.Group, inService, m.Instances, m.Desired, m.Tolerance)
	}
	return m, nil
}
