package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// Network fault types: toxiproxy's toxics of the same names.
const (
	// Latency delays the data of every connection by Latency ± Jitter.
	Latency = "latency"
	// Timeout swallows the data and closes the connection after Timeout (0:
	// holds it open until the other side closes it, so clients wait for
	// their own timeouts).
	Timeout = "timeout"
	// Bandwidth limits the data rate to RateKBps kilobytes per second.
	Bandwidth = "bandwidth"
	// ResetPeer resets connections (TCP RST) Timeout after their first data.
	ResetPeer = "reset_peer"
)

var networkFaultTypes = []string{Latency, Timeout, Bandwidth, ResetPeer}

// Directions of a network fault: downstream is data from the upstream
// service back to its clients, upstream is data from the clients to it.
const (
	Downstream = "downstream"
	Upstream   = "upstream"
)

// Proxy is a toxiproxy proxy: it listens on Listen and forwards to Upstream.
// Services under test are reached through it so faults can be put between.
type Proxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

// NetworkFault is one toxic on a named proxy. Name is the fault's stable name:
// the toxic carries it, so a retry or an undo finds it.
type NetworkFault struct {
	Name  string `json:"name"`
	Proxy string `json:"proxy"`
	Type  string `json:"type"`
	// Direction is downstream (the default) or upstream.
	Direction string        `json:"direction,omitempty"`
	Latency   time.Duration `json:"latency,omitempty"`
	Jitter    time.Duration `json:"jitter,omitempty"`
	Timeout   time.Duration `json:"timeout,omitempty"`
	RateKBps  int64         `json:"rateKBps,omitempty"`
	// Toxicity is the share of connections affected, above 0 and at most 1;
	// 0 means all of them.
	Toxicity float64 `json:"toxicity,omitempty"`
}

// NetworkFaultRef finds a network fault to undo.
type NetworkFaultRef struct {
	Name  string `json:"name"`
	Proxy string `json:"proxy"`
}

// NetworkFaultResult says what injecting a network fault did.
type NetworkFaultResult struct {
	Name  string `json:"name"`
	Proxy string `json:"proxy"`
	// AlreadyInjected says the toxic was there before (an earlier attempt
	// injected it); it was brought to the asked attributes if they differed.
	AlreadyInjected bool `json:"alreadyInjected"`
	// Attributes are toxiproxy's attributes of the toxic as it now stands.
	Attributes map[string]any `json:"attributes"`
}

// Toxiproxy injects network faults through a toxiproxy server's API. The
// toxiproxy client takes no context: each of its calls is bounded by the
// client's own 30 s timeout, and ctx is checked before each.
type Toxiproxy struct {
	client *toxiproxy.Client
	api    string
}

// NewToxiproxy talks to the toxiproxy API at apiURL (http://host:port).
func NewToxiproxy(apiURL string) *Toxiproxy {
	return &Toxiproxy{client: toxiproxy.NewClient(apiURL), api: apiURL}
}

// statusOf is the HTTP status of a toxiproxy API refusal, 0 for other errors.
func statusOf(err error) int {
	var apiErr *toxiproxy.ApiError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return 0
}

// EnsureProxy makes the proxy exist as asked, enabled, and returns it with
// the address it really listens on (a Listen port of 0 lets toxiproxy pick).
// An existing proxy with another listen address or upstream is changed.
func (t *Toxiproxy) EnsureProxy(ctx context.Context, p Proxy) (Proxy, error) {
	if !validName.MatchString(p.Name) {
		return Proxy{}, &InputError{Field: "name", Problem: fmt.Sprintf("%q is not a proxy name", p.Name), Fix: "name the proxy after the service it fronts, e.g. web (letters, digits and . _ : -)"}
	}
	for field, addr := range map[string]string{"listen": p.Listen, "upstream": p.Upstream} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Proxy{}, &InputError{Field: field, Problem: fmt.Sprintf("%q is not host:port", addr), Fix: "give an address such as 127.0.0.1:8080"}
		}
	}
	if err := ctx.Err(); err != nil {
		return Proxy{}, err
	}
	existing, err := t.client.Proxy(p.Name)
	if statusOf(err) == http.StatusNotFound {
		created, err := t.client.CreateProxy(p.Name, p.Listen, p.Upstream)
		if statusOf(err) == http.StatusConflict {
			// Another attempt created it meanwhile: check that one instead.
			return t.EnsureProxy(ctx, p)
		}
		if err != nil {
			return Proxy{}, fmt.Errorf("creating toxiproxy proxy %s (%s → %s) at %s: %w", p.Name, p.Listen, p.Upstream, t.api, err)
		}
		return Proxy{Name: created.Name, Listen: created.Listen, Upstream: created.Upstream}, nil
	}
	if err != nil {
		return Proxy{}, fmt.Errorf("reading toxiproxy proxy %s at %s: %w", p.Name, t.api, err)
	}
	if existing.Enabled && existing.Upstream == p.Upstream && sameListen(existing.Listen, p.Listen) {
		return Proxy{Name: existing.Name, Listen: existing.Listen, Upstream: existing.Upstream}, nil
	}
	existing.Listen, existing.Upstream, existing.Enabled = p.Listen, p.Upstream, true
	if err := existing.Save(); err != nil {
		return Proxy{}, fmt.Errorf("changing toxiproxy proxy %s to %s → %s: %w", p.Name, p.Listen, p.Upstream, err)
	}
	return Proxy{Name: existing.Name, Listen: existing.Listen, Upstream: existing.Upstream}, nil
}

// sameListen says whether a proxy listening on have satisfies a request for
// want: the same address, or the same host when want leaves the port open.
func sameListen(have, want string) bool {
	if have == want {
		return true
	}
	hh, _, err1 := net.SplitHostPort(have)
	wh, wp, err2 := net.SplitHostPort(want)
	return err1 == nil && err2 == nil && wp == "0" && hh == wh
}

func (f NetworkFault) validate() error {
	if err := checkFaultName(f.Name); err != nil {
		return err
	}
	if !validName.MatchString(f.Proxy) {
		return &InputError{Field: "proxy", Problem: fmt.Sprintf("%q is not a proxy name", f.Proxy), Fix: "name the toxiproxy proxy in front of the service"}
	}
	if !slices.Contains(networkFaultTypes, f.Type) {
		return &InputError{Field: "type", Problem: fmt.Sprintf("%q is not a network fault", f.Type), Fix: "use latency, timeout, bandwidth or reset_peer"}
	}
	if f.Direction != "" && f.Direction != Downstream && f.Direction != Upstream {
		return &InputError{Field: "direction", Problem: fmt.Sprintf("%q is not a direction", f.Direction), Fix: "use downstream (from the service to its clients) or upstream"}
	}
	if f.Toxicity < 0 || f.Toxicity > 1 || math.IsNaN(f.Toxicity) {
		return &InputError{Field: "toxicity", Problem: fmt.Sprintf("is %v", f.Toxicity), Fix: "give the share of connections affected, above 0 and at most 1 (or leave it out for all)"}
	}
	switch f.Type {
	case Latency:
		if f.Latency <= 0 {
			return &InputError{Field: "latency", Problem: "is missing or not positive", Fix: "give the delay, e.g. 300ms"}
		}
		if f.Jitter < 0 || f.Jitter > f.Latency {
			return &InputError{Field: "jitter", Problem: fmt.Sprintf("is %s", f.Jitter), Fix: "give a jitter from 0 up to the latency"}
		}
	case Timeout, ResetPeer:
		if f.Timeout < 0 {
			return &InputError{Field: "timeout", Problem: fmt.Sprintf("is %s", f.Timeout), Fix: "give 0 or a positive duration"}
		}
	case Bandwidth:
		if f.RateKBps <= 0 {
			return &InputError{Field: "rateKBps", Problem: "is missing or not positive", Fix: "give the rate in kilobytes per second, e.g. 64"}
		}
	}
	return nil
}

// attributes are toxiproxy's attributes for the fault, as its API returns
// them (JSON numbers), so they compare with an existing toxic's.
func (f NetworkFault) attributes() toxiproxy.Attributes {
	switch f.Type {
	case Latency:
		return toxiproxy.Attributes{"latency": float64(f.Latency.Milliseconds()), "jitter": float64(f.Jitter.Milliseconds())}
	case Timeout, ResetPeer:
		return toxiproxy.Attributes{"timeout": float64(f.Timeout.Milliseconds())}
	case Bandwidth:
		return toxiproxy.Attributes{"rate": float64(f.RateKBps)}
	}
	return nil
}

func (f NetworkFault) direction() string {
	if f.Direction == "" {
		return Downstream
	}
	return f.Direction
}

func (f NetworkFault) toxicity() float32 {
	if f.Toxicity == 0 {
		return 1
	}
	return float32(f.Toxicity)
}

// Inject adds the fault's toxic to its proxy. A toxic of that name already
// there (an earlier attempt) is kept and brought to the asked attributes; one
// of another type or direction is a conflict, left alone.
func (t *Toxiproxy) Inject(ctx context.Context, f NetworkFault) (NetworkFaultResult, error) {
	if err := f.validate(); err != nil {
		return NetworkFaultResult{}, err
	}
	proxy, err := t.proxy(ctx, f.Proxy)
	if err != nil {
		return NetworkFaultResult{}, err
	}
	result := NetworkFaultResult{Name: f.Name, Proxy: f.Proxy}
	want := f.attributes()
	if existing, found := findToxic(proxy.ActiveToxics, f.Name); found {
		if existing.Type != f.Type || existing.Stream != f.direction() {
			return result, &InputError{Field: "name", Problem: fmt.Sprintf("proxy %s already has a %s %s toxic named %s, not a %s %s one", f.Proxy, existing.Stream, existing.Type, f.Name, f.direction(), f.Type),
				Fix: "undo the existing fault first, or give this one another name"}
		}
		result.AlreadyInjected = true
		if sameAttributes(existing.Attributes, want) && existing.Toxicity == f.toxicity() {
			result.Attributes = existing.Attributes
			return result, nil
		}
		if err := ctx.Err(); err != nil {
			return result, err
		}
		updated, err := proxy.UpdateToxic(f.Name, f.toxicity(), want)
		if err != nil {
			return result, fmt.Errorf("updating toxic %s on proxy %s: %w", f.Name, f.Proxy, err)
		}
		result.Attributes = updated.Attributes
		return result, nil
	}
	if err := ctx.Err(); err != nil {
		return result, err
	}
	added, err := proxy.AddToxic(f.Name, f.Type, f.direction(), f.toxicity(), want)
	if statusOf(err) == http.StatusConflict {
		// Added by a concurrent attempt since the proxy was read.
		return t.Inject(ctx, f)
	}
	if err != nil {
		return result, fmt.Errorf("adding a %s toxic %s to proxy %s: %w", f.Type, f.Name, f.Proxy, err)
	}
	result.Attributes = added.Attributes
	return result, nil
}

// Undo removes the fault's toxic; a toxic (or proxy) that is not there is
// already undone.
func (t *Toxiproxy) Undo(ctx context.Context, ref NetworkFaultRef) (UndoResult, error) {
	if err := checkFaultName(ref.Name); err != nil {
		return UndoResult{}, err
	}
	result := UndoResult{Name: ref.Name}
	proxy, err := t.proxy(ctx, ref.Proxy)
	var notFound *NotFoundError
	if errors.As(err, &notFound) {
		result.Note = notFound.What + " is gone, and its toxics with it"
		return result, nil
	}
	if err != nil {
		return result, err
	}
	if err := ctx.Err(); err != nil {
		return result, err
	}
	err = proxy.RemoveToxic(ref.Name)
	switch {
	case statusOf(err) == http.StatusNotFound:
		return result, nil
	case err != nil:
		return result, fmt.Errorf("removing toxic %s from proxy %s: %w", ref.Name, ref.Proxy, err)
	}
	result.Removed = true
	return result, nil
}

// Faults lists the toxics on a proxy as network faults.
func (t *Toxiproxy) Faults(ctx context.Context, proxyName string) ([]NetworkFault, error) {
	proxy, err := t.proxy(ctx, proxyName)
	if err != nil {
		return nil, err
	}
	faults := make([]NetworkFault, 0, len(proxy.ActiveToxics))
	for _, toxic := range proxy.ActiveToxics {
		f := NetworkFault{Name: toxic.Name, Proxy: proxyName, Type: toxic.Type, Direction: toxic.Stream, Toxicity: float64(toxic.Toxicity)}
		millis := func(key string) time.Duration {
			v, _ := toxic.Attributes[key].(float64)
			return time.Duration(v) * time.Millisecond
		}
		switch toxic.Type {
		case Latency:
			f.Latency, f.Jitter = millis("latency"), millis("jitter")
		case Timeout, ResetPeer:
			f.Timeout = millis("timeout")
		case Bandwidth:
			rate, _ := toxic.Attributes["rate"].(float64)
			f.RateKBps = int64(rate)
		}
		faults = append(faults, f)
	}
	return faults, nil
}

func (t *Toxiproxy) proxy(ctx context.Context, name string) (*toxiproxy.Proxy, error) {
	if !validName.MatchString(name) {
		return nil, &InputError{Field: "proxy", Problem: fmt.Sprintf("%q is not a proxy name", name), Fix: "name the toxiproxy proxy in front of the service"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	proxy, err := t.client.Proxy(name)
	if statusOf(err) == http.StatusNotFound {
		return nil, &NotFoundError{What: fmt.Sprintf("toxiproxy proxy %s at %s", name, t.api), Fix: "create it first (EnsureProxy), or check the proxy name"}
	}
	if err != nil {
		return nil, fmt.Errorf("reading toxiproxy proxy %s at %s: %w", name, t.api, err)
	}
	return proxy, nil
}

func findToxic(toxics toxiproxy.Toxics, name string) (toxiproxy.Toxic, bool) {
	for _, t := range toxics {
		if t.Name == name {
			return t, true
		}
	}
	return toxiproxy.Toxic{}, false
}

func sameAttributes(have, want toxiproxy.Attributes) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
