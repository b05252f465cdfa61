package localenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the local control plane's certificate authority, API server serving
// certificate and service-account signing key, created once per data dir.
type pki struct {
	dir string
}

func (p pki) caCert() string     { return filepath.Join(p.dir, "ca.crt") }
func (p pki) caKey() string      { return filepath.Join(p.dir, "ca.key") }
func (p pki) serverCert() string { return filepath.Join(p.dir, "apiserver.crt") }
func (p pki) serverKey() string  { return filepath.Join(p.dir, "apiserver.key") }
func (p pki) saKey() string      { return filepath.Join(p.dir, "sa.key") }
func (p pki) saPub() string      { return filepath.Join(p.dir, "sa.pub") }

// ensure creates whatever is missing; existing files are kept so clients'
// kubeconfigs stay valid across restarts.
func (p pki) ensure() error {
	if _, err := os.Stat(p.saPub()); err == nil {
		return nil
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "infraflow-local-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTmpl, caCert, &serverKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	// Service-account tokens are RS256 by default.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	serverKeyDER, _ := x509.MarshalECPrivateKey(serverKey)
	return errors.Join(
		writePEM(p.caCert(), "CERTIFICATE", caDER),
		writePEM(p.caKey(), "EC PRIVATE KEY", caKeyDER),
		writePEM(p.serverCert(), "CERTIFICATE", serverDER),
		writePEM(p.serverKey(), "EC PRIVATE KEY", serverKeyDER),
		writePEM(p.saKey(), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
		// Written last: its presence means the set is complete.
		writePEM(p.saPub(), "PUBLIC KEY", saPub),
	)
}

func writePEM(path, kind string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
