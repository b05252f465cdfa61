package chaos

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Kubernetes deletes pods and measures workloads through the API server.
// Pod deletion records its choice in a ConfigMap in the pods' namespace, so
// the worker needs to get, create and delete ConfigMaps there besides
// listing and deleting pods.
type Kubernetes struct {
	Client kubernetes.Interface
}

// PodDelete deletes some of the pods Selector matches in Namespace (pods
// already terminating are not counted).
type PodDelete struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Selector is a label selector, e.g. app=web,tier!=db.
	Selector string `json:"selector"`
	Selection
	// GracePeriodSeconds overrides the pods' own grace period (0: at once).
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// PodDeleteResult says which pods the fault deleted.
type PodDeleteResult struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Matched is how many pods the selector matched, Wanted how many count or
	// percent asked for, Limit how many the blast radius allowed; Capped says
	// fewer than wanted were taken.
	Matched int      `json:"matched"`
	Wanted  int      `json:"wanted"`
	Limit   int      `json:"limit"`
	Capped  bool     `json:"capped"`
	Deleted []string `json:"deleted"`
	// AlreadyInjected says an earlier attempt had chosen these pods; this one
	// deleted those still there and chose no others.
	AlreadyInjected bool `json:"alreadyInjected"`
	// Undo says there is nothing to put back: the pods' controllers recreate them.
	Undo string `json:"undo"`
}

// PodDeleteRef finds a pod deletion to undo.
type PodDeleteRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

const podUndoNote = "none needed: the pods' controllers (Deployment, StatefulSet, ...) recreate them; a bare pod stays deleted"

// podDeleteRecord is what the ConfigMap keeps: the choice and the pods'
// UIDs, so a retry deletes exactly the chosen instances and never a pod a
// controller recreated under the same name.
type podDeleteRecord struct {
	Fault    string            `json:"fault"`
	Selector string            `json:"selector"`
	Choice   choice            `json:"choice"`
	UIDs     map[string]string `json:"uids"`
}

const (
	recordDataKey    = "record"
	faultAnnotation  = "infraflow.io/chaos-fault"
	managedByLabel   = "app.kubernetes.io/managed-by"
	chaosRecordLabel = "infraflow.io/chaos-record"
)

func (in PodDelete) validate() (PodDelete, labels.Selector, error) {
	if err := checkFaultName(in.Name); err != nil {
		return in, nil, err
	}
	if in.Namespace == "" {
		in.Namespace = "default"
	}
	if in.Selector == "" {
		return in, nil, &InputError{Field: "selector", Problem: "is empty", Fix: "give a label selector naming the workload's pods, e.g. app=web"}
	}
	selector, err := labels.Parse(in.Selector)
	if err != nil {
		return in, nil, &InputError{Field: "selector", Problem: fmt.Sprintf("%q: %v", in.Selector, err), Fix: "write it as kubectl's -l takes it, e.g. app=web,tier in (front)"}
	}
	if in.GracePeriodSeconds != nil && *in.GracePeriodSeconds < 0 {
		return in, nil, &InputError{Field: "gracePeriodSeconds", Problem: "is negative", Fix: "give 0 (at once) or more seconds, or leave it out for the pods' own"}
	}
	return in, selector, in.Selection.validate()
}

// DeletePods deletes the chosen pods. The choice is recorded before any pod
// is deleted; a retry finds the record and only finishes it.
func (k *Kubernetes) DeletePods(ctx context.Context, in PodDelete) (PodDeleteResult, error) {
	in, selector, err := in.validate()
	if err != nil {
		return PodDeleteResult{}, err
	}
	record, found, err := k.readPodRecord(ctx, in.Namespace, in.Name)
	if err != nil {
		return PodDeleteResult{}, err
	}
	if !found {
		pods, err := k.Client.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return PodDeleteResult{}, fmt.Errorf("listing pods %s in namespace %s: %w", in.Selector, in.Namespace, err)
		}
		uids := map[string]string{}
		var names []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
				uids[p.Name] = string(p.UID)
			}
		}
		if len(names) == 0 {
			return PodDeleteResult{}, &NotFoundError{What: fmt.Sprintf("pods matching %s in namespace %s", in.Selector, in.Namespace),
				Fix: "check the selector and namespace (kubectl get pods -n " + in.Namespace + " -l '" + in.Selector + "')"}
		}
		c, err := in.Selection.choose(names, "pods")
		if err != nil {
			return PodDeleteResult{}, err
		}
		record = podDeleteRecord{Fault: in.Name, Selector: in.Selector, Choice: c, UIDs: map[string]string{}}
		for _, name := range c.Chosen {
			record.UIDs[name] = uids[name]
		}
		if err := k.writePodRecord(ctx, in.Namespace, record); apierrors.IsAlreadyExists(err) {
			// A concurrent attempt recorded its choice first: finish that one.
			if record, _, err = k.readPodRecord(ctx, in.Namespace, in.Name); err != nil {
				return PodDeleteResult{}, err
			}
			found = true
		} else if err != nil {
			return PodDeleteResult{}, err
		}
	}
	result := PodDeleteResult{Name: in.Name, Namespace: in.Namespace, Matched: record.Choice.Matched, Wanted: record.Choice.Wanted,
		Limit: record.Choice.Limit, Capped: record.Choice.Capped, Deleted: record.Choice.Chosen, AlreadyInjected: found, Undo: podUndoNote}
	for _, name := range record.Choice.Chosen {
		uid := types.UID(record.UIDs[name])
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, GracePeriodSeconds: in.GracePeriodSeconds}
		err := k.Client.CoreV1().Pods(in.Namespace).Delete(ctx, name, opts)
		// Gone already, or a new pod of that name (UID precondition failed): done.
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return result, fmt.Errorf("deleting pod %s/%s: %w", in.Namespace, name, err)
		}
	}
	return result, nil
}

// UndoPodDelete removes the fault's record. Nothing else can be undone:
// deleted pods come back through their controllers.
func (k *Kubernetes) UndoPodDelete(ctx context.Context, ref PodDeleteRef) (UndoResult, error) {
	if err := checkFaultName(ref.Name); err != nil {
		return UndoResult{}, err
	}
	if ref.Namespace == "" {
		ref.Namespace = "default"
	}
	result := UndoResult{Name: ref.Name, Note: podUndoNote}
	err := k.Client.CoreV1().ConfigMaps(ref.Namespace).Delete(ctx, recordKey(ref.Name), metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return result, nil
	case err != nil:
		return result, fmt.Errorf("removing the record of fault %s (ConfigMap %s/%s): %w", ref.Name, ref.Namespace, recordKey(ref.Name), err)
	}
	result.Removed = true
	return result, nil
}

func (k *Kubernetes) readPodRecord(ctx context.Context, namespace, fault string) (podDeleteRecord, bool, error) {
	var record podDeleteRecord
	cm, err := k.Client.CoreV1().ConfigMaps(namespace).Get(ctx, recordKey(fault), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return record, false, nil
	}
	if err != nil {
		return record, false, fmt.Errorf("reading the record of fault %s (ConfigMap %s/%s): %w", fault, namespace, recordKey(fault), err)
	}
	if err := json.Unmarshal([]byte(cm.Data[recordDataKey]), &record); err != nil || record.Fault != fault {
		return record, false, fmt.Errorf("ConfigMap %s/%s is not the record of fault %s (%v): remove it if nothing else owns it", namespace, cm.Name, fault, err)
	}
	return record, true, nil
}

func (k *Kubernetes) writePodRecord(ctx context.Context, namespace string, record podDeleteRecord) error {
	data, err := json.Marshal(record)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        recordKey(record.Fault),
			Labels:      map[string]string{managedByLabel: "infraflow", chaosRecordLabel: "pod-delete"},
			Annotations: map[string]string{faultAnnotation: record.Fault},
		},
		Data: map[string]string{recordDataKey: string(data)},
	}
	_, err = k.Client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: "infraflow"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("recording the choice of fault %s (ConfigMap %s/%s): %w", record.Fault, namespace, cm.Name, err)
	}
	return err
}

// Workload kinds a replicas probe reads.
const (
	Deployment  = "deployment"
	StatefulSet = "statefulset"
)

// WorkloadProbe holds a Deployment's or StatefulSet's available replicas to
// Op Threshold, or to Op its desired count (spec.replicas) when Threshold is
// nil. Op defaults to >=.
type WorkloadProbe struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Op        string   `json:"op,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
}

// WorkloadMeasurement is the available count (Value) and what it was held to.
type WorkloadMeasurement struct {
	Measurement
	Desired   int `json:"desired"`
	Ready     int `json:"ready"`
	Available int `json:"available"`
}

// ProbeWorkload reads the workload's status. A workload that does not exist
// is a NotFoundError: a hypothesis about it cannot be measured.
func (k *Kubernetes) ProbeWorkload(ctx context.Context, p WorkloadProbe) (WorkloadMeasurement, error) {
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if p.Op == "" {
		p.Op = GreaterEqual
	}
	if err := checkOperator("op", p.Op); err != nil {
		return WorkloadMeasurement{}, err
	}
	if p.Name == "" {
		return WorkloadMeasurement{}, &InputError{Field: "name", Problem: "is empty", Fix: "name the Deployment or StatefulSet"}
	}
	var m WorkloadMeasurement
	var err error
	switch p.Kind {
	case Deployment:
		d, getErr := k.Client.AppsV1().Deployments(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err = getErr; err == nil {
			m.Desired, m.Ready, m.Available = int(replicasOrOne(d.Spec.Replicas)), int(d.Status.ReadyReplicas), int(d.Status.AvailableReplicas)
		}
	case StatefulSet:
		s, getErr := k.Client.AppsV1().StatefulSets(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err = getErr; err == nil {
			m.Desired, m.Ready, m.Available = int(replicasOrOne(s.Spec.Replicas)), int(s.Status.ReadyReplicas), int(s.Status.AvailableReplicas)
		}
	default:
		return m, &InputError{Field: "kind", Problem: fmt.Sprintf("%q is not a workload kind", p.Kind), Fix: "use deployment or statefulset"}
	}
	what := fmt.Sprintf("%s %s/%s", p.Kind, p.Namespace, p.Name)
	if apierrors.IsNotFound(err) {
		return m, &NotFoundError{What: what, Fix: "check kind, namespace and name"}
	}
	if err != nil {
		return m, fmt.Errorf("reading %s: %w", what, err)
	}
	threshold := float64(m.Desired)
	if p.Threshold != nil {
		threshold = *p.Threshold
	}
	m.Measurement = measure(float64(m.Available), "replicas", p.Op, threshold)
	if !m.WithinTolerance {
		m.Detail = fmt.Sprintf("%s has %d available replicas (%d ready, %d desired), want %s", what, m.Available, m.Ready, m.Desired, m.Tolerance)
	}
	return m, nil
}

// replicasOrOne reads spec.replicas as the API server defaults it.
func replicasOrOne(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
