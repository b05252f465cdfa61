package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+seed%26)), ed25519.SeedSize)))
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestCanonicalMessageIsDocumentedShape(t *testing.T) {
	d := Decision{WorkflowID: "scale-web", Approver: "alice", Decision: "approve", Reason: "ok\nreally", SignedAt: "2026-12-01T10:00:00Z"}
	want := "infraflow-decision-v1\nworkflowId:9:scale-web\napprover:5:alice\ndecision:7:approve\nreason:9:ok\nreally\nsignedAt:20:2026-12-01T10:00:00Z\n"
	if got := string(d.Message()); got != want {
		t.Errorf("decision message = %q, want %q", got, want)
	}
	r := Request{WorkflowID: "provision-local-dev", Requester: "dave", SignedAt: "2026-12-01T10:00:00Z"}
	want = "infraflow-request-v1\nworkflowId:19:provision-local-dev\nrequester:4:dave\nsignedAt:20:2026-12-01T10:00:00Z\n"
	if got := string(r.Message()); got != want {
		t.Errorf("request message = %q, want %q", got, want)
	}
	// Length prefixes keep fields apart: moving bytes between fields changes the message.
	a := Decision{Approver: "al", Reason: "ice"}.Message()
	b := Decision{Approver: "ali", Reason: "ce"}.Message()
	if string(a) == string(b) {
		t.Error("messages of different decisions are equal")
	}
}

func TestParsePublicKeyFormats(t *testing.T) {
	k := pub(testKey(t, 1))
	line := AuthorizedKey(k, "alice@laptop")
	if !strings.HasPrefix(line, "ssh-ed25519 AAAA") || !strings.HasSuffix(line, " alice@laptop") {
		t.Fatalf("authorized key = %q", line)
	}
	for _, s := range []string{line, base64.StdEncoding.EncodeToString(k)} {
		got, err := ParsePublicKey(s)
		if err != nil || !got.Equal(k) {
			t.Errorf("ParsePublicKey(%q) = %v, %v", s, got, err)
		}
	}
	for s, want := range map[string]string{
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7": "not an OpenSSH public key",
		"hello": "neither an OpenSSH",
		base64.StdEncoding.EncodeToString([]byte("short")): "neither an OpenSSH",
	} {
		if _, err := ParsePublicKey(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePublicKey(%q) = %v, want %q", s, err, want)
		}
	}
	if id := KeyID(k); !strings.HasPrefix(id, "SHA256:") {
		t.Errorf("KeyID = %q", id)
	}
}

func TestAuthenticateDecision(t *testing.T) {
	alice, bob, dave, relay, mallory := testKey(t, 1), testKey(t, 2), testKey(t, 3), testKey(t, 4), testKey(t, 5)
	ring, errs := NewKeyring(map[string][]string{
		"alice": {AuthorizedKey(pub(alice), "")},
		"bob":   {base64.StdEncoding.EncodeToString(pub(bob))},
		"dave":  {AuthorizedKey(pub(dave), "")},
	}, map[string][]string{"chatops": {AuthorizedKey(pub(relay), "")}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: FormatTime(now.Add(-time.Minute))}
	strict := Policy{}
	cases := []struct {
		name          string
		key           ed25519.PrivateKey
		d             Decision
		policy        Policy
		signer, wantR string
	}{
		{"own key", alice, d, strict, "alice", ""},
		{"relay", relay, d, strict, "chatops", ""},
		{"another's key", bob, d, strict, "bob", "signed with bob's key, not alice's"},
		{"requester as someone else", dave, d, strict, "dave", "self-approval in another's name: dave requested this change and signed this decision as alice"},
		{"unregistered key", mallory, d, strict, "", "does not verify with any key the directory registers for alice"},
		{"stale", alice, Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: FormatTime(now.Add(-11 * time.Minute))}, strict, "alice", "stale signature"},
		{"future", alice, Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: FormatTime(now.Add(11 * time.Minute))}, strict, "alice", "stale signature"},
		{"wider window", alice, Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: FormatTime(now.Add(-11 * time.Minute))}, Policy{Window: time.Hour}, "alice", ""},
		{"bad time", alice, Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: "yesterday"}, strict, "alice", `signedAt "yesterday" is not an RFC 3339 time`},
	}
	for _, c := range cases {
		sig := Sign(c.key, c.d.Message())
		v := ring.AuthenticateDecision(c.d, sig, "", now, "dave", c.policy)
		if v.Signer != c.signer || (c.wantR == "") != (v.Refusal == "") || !strings.Contains(v.Refusal, c.wantR) {
			t.Errorf("%s: verdict %+v, want signer %q refusal %q", c.name, v, c.signer, c.wantR)
		}
	}
	// A signature of other fields does not carry over.
	sig := Sign(alice, d.Message())
	tampered := d
	tampered.Reason = "something else"
	if v := ring.AuthenticateDecision(tampered, sig, "", now, "dave", strict); v.Refusal == "" {
		t.Error("tampered reason accepted")
	}
	other := d
	other.WorkflowID = "another-approval"
	if v := ring.AuthenticateDecision(other, sig, "", now, "dave", strict); v.Refusal == "" {
		t.Error("signature for another workflow accepted")
	}
	// keyId narrows the search; a wrong one fails.
	if v := ring.AuthenticateDecision(d, sig, KeyID(pub(alice)), now, "dave", strict); v.Refusal != "" {
		t.Errorf("with keyId: %+v", v)
	}
	if v := ring.AuthenticateDecision(d, sig, KeyID(pub(bob)), now, "dave", strict); v.Refusal == "" {
		t.Error("wrong keyId accepted")
	}
	if v := ring.AuthenticateDecision(d, "", "", now, "dave", strict); !strings.Contains(v.Refusal, "unsigned decision") {
		t.Errorf("unsigned: %+v", v)
	}
	if v := ring.AuthenticateDecision(d, "", "", now, "dave", Policy{AllowUnsigned: true}); v.Refusal != "" {
		t.Errorf("unsigned but allowed: %+v", v)
	}
}

func TestAuthenticateRequest(t *testing.T) {
	dave, alice, relay := testKey(t, 3), testKey(t, 1), testKey(t, 4)
	ring, _ := NewKeyring(map[string][]string{"dave": {AuthorizedKey(pub(dave), "")}, "alice": {AuthorizedKey(pub(alice), "")}},
		map[string][]string{"chatops": {AuthorizedKey(pub(relay), "")}})
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := Request{WorkflowID: "provision-local-dev", Requester: "dave", SignedAt: FormatTime(now)}
	if v := ring.AuthenticateRequest(r, Sign(dave, r.Message()), "", now, Policy{}); v.Refusal != "" || v.Signer != "dave" {
		t.Errorf("dave's own: %+v", v)
	}
	for name, k := range map[string]ed25519.PrivateKey{"alice": alice, "relay": relay} {
		if v := ring.AuthenticateRequest(r, Sign(k, r.Message()), "", now, Policy{}); !strings.Contains(v.Refusal, "not dave's") {
			t.Errorf("%s signing as dave: %+v", name, v)
		}
	}
	if v := ring.AuthenticateRequest(r, "", "", now, Policy{}); !strings.HasPrefix(v.Refusal, "is not signed") {
		t.Errorf("unsigned: %+v", v)
	}
}

// FuzzVerifyDecision: whatever arrives (any fields, any signature, any key
// ID), verification never panics, never accepts a signature that was not
// made over exactly these fields, and always accepts the real one.
func FuzzVerifyDecision(f *testing.F) {
	alice := testKey(f, 1)
	relay := testKey(f, 4)
	ring, _ := NewKeyring(map[string][]string{"alice": {AuthorizedKey(pub(alice), "")}, "dave": {AuthorizedKey(pub(testKey(f, 3)), "")}},
		map[string][]string{"chatops": {AuthorizedKey(pub(relay), "")}})
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	valid := Decision{WorkflowID: "scale-web", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: FormatTime(now)}
	f.Add(valid.WorkflowID, valid.Approver, valid.Decision, valid.Reason, valid.SignedAt, Sign(alice, valid.Message()), "")
	f.Add("x", "alice", "reject", "no", "2026-12-01T10:05:00+01:00", "", "SHA256:abc")
	f.Add("", "", "", "", "", "!!!", "")
	f.Add("wf", "dave", "approve", "mine", "2026-12-01T09:59:00Z", base64.StdEncoding.EncodeToString(make([]byte, 64)), KeyID(pub(alice)))
	f.Fuzz(func(t *testing.T, workflowID, approver, decision, reason, signedAt, signature, keyID string) {
		d := Decision{WorkflowID: workflowID, Approver: approver, Decision: decision, Reason: reason, SignedAt: signedAt}
		v := ring.AuthenticateDecision(d, signature, keyID, now, "dave", Policy{})
		if v.Refusal == "" {
			// Accepted: the signature must really be alice's, dave's or the relay's over these bytes.
			raw, _ := base64.StdEncoding.DecodeString(signature)
			ok := ed25519.Verify(pub(alice), d.Message(), raw) || ed25519.Verify(pub(relay), d.Message(), raw) ||
				ed25519.Verify(pub(testKey(t, 3)), d.Message(), raw)
			if !ok {
				t.Fatalf("accepted a signature no registered key made: %+v %q", d, signature)
			}
		}
		// Signing what arrived with alice's key is accepted exactly when the time is fresh.
		d.Approver = "alice"
		good := ring.AuthenticateDecision(d, Sign(alice, d.Message()), "", now, "dave", Policy{})
		at, err := time.Parse(time.RFC3339, signedAt)
		fresh := err == nil && now.Sub(at).Abs() <= DefaultWindow
		if (good.Refusal == "") != fresh || (fresh && good.Signer != "alice") {
			t.Fatalf("alice's own signature of %+v: %+v (fresh %v)", d, good, fresh)
		}
	})
}

func TestRandomKeysDoNotVerify(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	ring, _ := NewKeyring(map[string][]string{"alice": {AuthorizedKey(pub(testKey(t, 1)), "")}}, nil)
	d := Decision{WorkflowID: "wf", Approver: "alice", Decision: "approve", Reason: "ok", SignedAt: "2026-12-01T10:00:00Z"}
	if v := ring.AuthenticateDecision(d, Sign(other, d.Message()), "", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), "", Policy{}); v.Refusal == "" {
		t.Error("a random key verified")
	}
}
