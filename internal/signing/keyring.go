package signing

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"time"
)

// DefaultWindow is how far signedAt may be from the verifier's clock.
const DefaultWindow = 10 * time.Minute

// Key is one registered public key and whose it is.
type Key struct {
	Owner string // a person, or a relay's name
	Relay bool   // a trusted relay (the chat server) that vouches for who decided
	ID    string // SHA256 fingerprint
	key   ed25519.PublicKey
}

// Keyring holds the keys a verifier trusts, in a fixed order so that every
// lookup is deterministic.
type Keyring struct {
	keys []Key
}

// NewKeyring parses people's and relays' keys (as the directory holds them).
// Keys that do not parse are reported and left out.
func NewKeyring(people map[string][]string, relays map[string][]string) (*Keyring, []error) {
	k := &Keyring{}
	var errs []error
	add := func(owners map[string][]string, relay bool) {
		names := make([]string, 0, len(owners))
		// Collected, then sorted: the map's order does not matter.
		//workflowcheck:ignore
		for name := range owners {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			for i, s := range owners[name] {
				pub, err := ParsePublicKey(s)
				if err != nil {
					errs = append(errs, fmt.Errorf("key %d of %s %s", i, name, err))
					continue
				}
				k.keys = append(k.keys, Key{Owner: name, Relay: relay, ID: KeyID(pub), key: pub})
			}
		}
	}
	add(people, false)
	add(relays, true)
	return k, errs
}

// Identify finds the registered key whose signature of message this is:
// the approver's own keys first, then relays, then anyone else's. keyID,
// when given, narrows the search to that key.
func (k *Keyring) Identify(message []byte, signature, keyID, preferOwner string) (Key, bool) {
	if k == nil {
		return Key{}, false
	}
	rank := func(c Key) int {
		switch {
		case !c.Relay && c.Owner == preferOwner:
			return 0
		case c.Relay:
			return 1
		default:
			return 2
		}
	}
	for pass := 0; pass < 3; pass++ {
		for _, c := range k.keys {
			if rank(c) != pass || keyID != "" && c.ID != keyID {
				continue
			}
			if Verify(c.key, message, signature) {
				return c, true
			}
		}
	}
	return Key{}, false
}

// Policy says what a verifier accepts.
type Policy struct {
	// AllowUnsigned accepts decisions and requests without a signature (the
	// local platform's example directory); signed ones are still verified.
	AllowUnsigned bool
	// Window bounds |now - signedAt| (default DefaultWindow).
	Window time.Duration
}

func (p Policy) window() time.Duration {
	if p.Window <= 0 {
		return DefaultWindow
	}
	return p.Window
}

// Verdict is who signed, or why the signature does not count.
type Verdict struct {
	// Signer is the key's owner ("" when unsigned and allowed); Relay says the
	// signer is a relay vouching for the approver.
	Signer  string
	Relay   bool
	KeyID   string
	Refusal string
}

// AuthenticateDecision checks that d was signed by its approver (or by a
// trusted relay for them), at a time within the policy's window of now.
// requester names who asked for the change, so that a requester signing in
// someone else's name is called what it is.
func (k *Keyring) AuthenticateDecision(d Decision, signature, keyID string, now time.Time, requester string, p Policy) Verdict {
	if signature == "" {
		if p.AllowUnsigned {
			return Verdict{}
		}
		return Verdict{Refusal: fmt.Sprintf("unsigned decision: this directory takes only decisions signed with a key it registers for %s "+
			"(starter approve signs with --key; to build one by hand see `starter approve --print-only`)", d.Approver)}
	}
	key, ok := k.Identify(d.Message(), signature, keyID, d.Approver)
	switch {
	case !ok:
		return Verdict{KeyID: keyID, Refusal: fmt.Sprintf("the signature does not verify with any key the directory registers for %s (nor a chat relay's key): "+
			"sign this approval's workflow ID, decision, reason, approver and signedAt with %s's enrolled key", d.Approver, d.Approver)}
	case !key.Relay && key.Owner != d.Approver && key.Owner == requester:
		return Verdict{Signer: key.Owner, KeyID: key.ID, Refusal: fmt.Sprintf("self-approval in another's name: %s requested this change and signed this decision as %s",
			key.Owner, d.Approver)}
	case !key.Relay && key.Owner != d.Approver:
		return Verdict{Signer: key.Owner, KeyID: key.ID, Refusal: fmt.Sprintf("signed with %s's key, not %s's: a decision counts only when signed by the approver", key.Owner, d.Approver)}
	}
	v := Verdict{Signer: key.Owner, Relay: key.Relay, KeyID: key.ID}
	if refusal := fresh(d.SignedAt, now, p.window()); refusal != "" {
		v.Refusal = refusal
	}
	return v
}

// AuthenticateRequest checks that r was signed by its requester at a time
// within the policy's window of now (when the workflow started).
func (k *Keyring) AuthenticateRequest(r Request, signature, keyID string, now time.Time, p Policy) Verdict {
	if signature == "" {
		if p.AllowUnsigned {
			return Verdict{}
		}
		return Verdict{Refusal: fmt.Sprintf("is not signed: this directory takes only requests signed with a key it registers for %s; "+
			"start the workflow with `starter` (it signs with --key) or add requesterSignature (see README: signing a request)", r.Requester)}
	}
	key, ok := k.Identify(r.Message(), signature, keyID, r.Requester)
	switch {
	case !ok:
		return Verdict{KeyID: keyID, Refusal: fmt.Sprintf("requesterSignature does not verify with any key the directory registers for %s: "+
			"sign the workflow ID, requester and signedAt with %s's enrolled key", r.Requester, r.Requester)}
	case key.Relay || key.Owner != r.Requester:
		return Verdict{Signer: key.Owner, KeyID: key.ID, Refusal: fmt.Sprintf("requesterSignature is %s's, not %s's: a request counts only when signed by its requester",
			key.Owner, r.Requester)}
	}
	v := Verdict{Signer: key.Owner, KeyID: key.ID}
	v.Refusal = fresh(r.SignedAt, now, p.window())
	return v
}

func fresh(signedAt string, now time.Time, window time.Duration) string {
	at, err := ParseTime(signedAt)
	if err != nil {
		return err.Error()
	}
	if d := now.Sub(at); d > window || d < -window {
		return fmt.Sprintf("stale signature: signed at %s, %s from the workflow's clock (%s) and at most %s is allowed; sign again",
			signedAt, d.Abs().Truncate(time.Second), FormatTime(now), window)
	}
	return ""
}
