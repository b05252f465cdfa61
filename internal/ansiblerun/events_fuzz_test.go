package ansiblerun

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/infraflow/infraflow/internal/playbook"
)

// FuzzEventParser feeds ansible.posix.jsonl output, well formed or not, to
// the collector a run reads ansible-playbook with. Whatever ansible (or a
// module's output inside it) prints, the worker must not panic, every host
// gets one of the four statuses, and a secret never reaches a report.
func FuzzEventParser(f *testing.F) {
	const secret = "hunter22-secret"
	seeds := []string{
		`{"_event":"v2_playbook_on_task_start","task":{"name":"install nginx"}}
{"_event":"v2_runner_on_ok","task":{"name":"install nginx"},"hosts":{"web-1":{"changed":true,"dest":"/srv/web-1/etc/nginx.conf"}}}
{"_event":"v2_runner_on_failed","hosts":{"web-2":{"msg":"bad password hunter22-secret"}}}
{"_event":"v2_runner_on_unreachable","hosts":{"web-3":{"msg":"ssh: connect refused"}}}
{"_event":"v2_playbook_on_stats","stats":{"web-1":{"ok":2,"changed":1},"web-2":{"failures":1},"web-3":{"unreachable":1}}}`,
		`{"_event":"v2_runner_on_ok","hosts":{"a":{"changed":true,"results":[{"changed":true,"path":"/x"},{"msg":["hunter22-secret"]}]},"b":{}}}`,
		`{"_event":"v2_runner_on_ok","hosts":{"a":null,"b":[],"c":"text"}}`,
		`{"_event":"v2_playbook_on_stats","stats":{"a":{"ok":-1}}}`,
		`{"_event":42}` + "\n" + `not json` + "\n" + `{"hosts":{}}`,
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, output []byte) {
		var events []playbook.Event
		c := newCollector(Run{
			Hosts:   []playbook.Host{{Name: "web-1", Root: "/srv/web-1"}},
			Secrets: Secrets{Vars: map[string]string{"db_password": secret}},
			OnEvent: func(e playbook.Event) { events = append(events, e) },
		})
		for _, line := range bytes.Split(output, []byte("\n")) {
			c.add(line)
		}
		report, _ := c.report()
		for _, h := range report.Hosts {
			if !slices.Contains([]string{playbook.StatusOK, playbook.StatusChanged, playbook.StatusFailed, playbook.StatusUnreachable}, h.Status) {
				t.Errorf("host %q has status %q", h.Host, h.Status)
			}
			if strings.Contains(h.Message, secret) {
				t.Errorf("host %q's message carries the secret: %q", h.Host, h.Message)
			}
		}
		for _, e := range events {
			if e.Status != "" && !slices.Contains([]string{"ok", "changed", "failed", "unreachable", "skipped"}, e.Status) {
				t.Errorf("event %+v has an unknown status", e)
			}
		}
	})
}

// One event can carry several hosts; one host's change is not another's.
func TestEventStatusIsPerHost(t *testing.T) {
	var events []playbook.Event
	c := newCollector(Run{OnEvent: func(e playbook.Event) { events = append(events, e) }})
	c.add([]byte(`{"_event":"v2_runner_on_ok","task":{"name":"t"},"hosts":{"a":{"changed":true},"b":{"changed":false}}}`))
	if len(events) != 2 || events[0].Status != "changed" || events[1].Status != "ok" {
		t.Errorf("events = %+v, want a changed and b ok", events)
	}
}
