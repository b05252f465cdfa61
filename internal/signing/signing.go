// Package signing proves who decided or requested something: Ed25519
// signatures over canonical byte strings. It is pure (no I/O, no clock), so
// workflows verify with it deterministically; internal/signing/keyfile reads
// and writes key files.
//
// # Canonical messages
//
// A signed message is a version line followed by one line per field, each
// line "name:length:value\n" where length is the value's length in bytes
// (decimal), so no value can be confused with another whatever it contains:
//
//	infraflow-decision-v1\n
//	workflowId:<n>:<approval workflow ID>\n
//	approver:<n>:<approver name>\n
//	decision:<n>:<approve|reject>\n
//	reason:<n>:<reason>\n
//	signedAt:<n>:<signedAt, exactly as sent>\n
//
//	infraflow-request-v1\n
//	workflowId:<n>:<ID of the workflow the requester starts>\n
//	requester:<n>:<requester name>\n
//	signedAt:<n>:<signedAt, exactly as sent>\n
//
// signedAt is an RFC 3339 time (e.g. 2026-12-01T10:00:00Z). The signature is
// the standard base64 encoding of the 64-byte Ed25519 signature of that
// message. A key is identified by its SHA-256 fingerprint as `ssh-keygen -lf`
// prints it (SHA256:...).
package signing

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Versions prefix every canonical message; a new format gets a new version.
const (
	DecisionVersion = "infraflow-decision-v1"
	RequestVersion  = "infraflow-request-v1"
)

// Decision is what an approver signs.
type Decision struct {
	WorkflowID string
	Approver   string
	Decision   string
	Reason     string
	SignedAt   string
}

// Request is what a requester signs when starting a workflow.
type Request struct {
	WorkflowID string
	Requester  string
	SignedAt   string
}

// Message is the canonical byte string of a decision.
func (d Decision) Message() []byte {
	return canonical(DecisionVersion,
		"workflowId", d.WorkflowID, "approver", d.Approver, "decision", d.Decision, "reason", d.Reason, "signedAt", d.SignedAt)
}

// Message is the canonical byte string of a request.
func (r Request) Message() []byte {
	return canonical(RequestVersion, "workflowId", r.WorkflowID, "requester", r.Requester, "signedAt", r.SignedAt)
}

func canonical(version string, kv ...string) []byte {
	var b strings.Builder
	b.WriteString(version)
	b.WriteByte('\n')
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i])
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(len(kv[i+1])))
		b.WriteByte(':')
		b.WriteString(kv[i+1])
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// FormatTime is how signers write signedAt: RFC 3339 in UTC, whole seconds.
func FormatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// ParseTime reads signedAt.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("signedAt %q is not an RFC 3339 time such as 2026-12-01T10:00:00Z", s)
	}
	return t, nil
}

// Sign signs message and returns the base64 signature.
func Sign(key ed25519.PrivateKey, message []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, message))
}

// Verify says whether signature (base64) is key's signature of message.
func Verify(key ed25519.PublicKey, message []byte, signature string) bool {
	raw, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(raw) != ed25519.SignatureSize || len(key) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(key, message, raw)
}

// ParsePublicKey reads a public key as the directory holds it: an OpenSSH
// line ("ssh-ed25519 AAAA... comment") or the raw 32-byte Ed25519 key in
// standard base64.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-") {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("not an OpenSSH public key: %v", err)
		}
		if pub.Type() != ssh.KeyAlgoED25519 {
			return nil, fmt.Errorf("is a %s key; only ssh-ed25519 keys are accepted", pub.Type())
		}
		crypto, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return nil, errors.New("ssh-ed25519 key without a crypto key")
		}
		key, ok := crypto.CryptoPublicKey().(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("ssh-ed25519 key is not an Ed25519 key")
		}
		return key, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New(`is neither an OpenSSH "ssh-ed25519 AAAA..." line nor a base64 32-byte Ed25519 key`)
	}
	return ed25519.PublicKey(raw), nil
}

// KeyID is the key's SHA-256 fingerprint as `ssh-keygen -lf` prints it.
func KeyID(key ed25519.PublicKey) string {
	pub, err := ssh.NewPublicKey(key)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(pub)
}

// AuthorizedKey is the key as an OpenSSH line, for the directory.
func AuthorizedKey(key ed25519.PublicKey, comment string) string {
	pub, err := ssh.NewPublicKey(key)
	if err != nil {
		return ""
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return line
}
