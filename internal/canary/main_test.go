package canary

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/mock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"))
}

// load compiles the canaries of a configuration file's text, so that the
// tests go through the same validation as sonde.yaml.
func load(t *testing.T, yaml string) []*Canary {
	t.Helper()
	cfg, err := config.Load("test.yaml", []byte(yaml))
	require.NoError(t, err)
	var out []*Canary
	for _, cc := range cfg.Canaries {
		c, err := Compile(cc)
		require.NoError(t, err)
		out = append(out, c)
	}
	return out
}

// runOne runs the only canary of yaml once.
func runOne(t *testing.T, r *Runner, yaml string) *Run {
	t.Helper()
	cs := load(t, yaml)
	require.Len(t, cs, 1)
	return r.Run(context.Background(), cs[0], TriggerCLI)
}

// tlsServer starts an HTTPS server whose certificate for 127.0.0.1 and
// localhost expires after validFor, and returns it with a Runner that
// trusts the certificate.
func tlsServer(t *testing.T, validFor time.Duration, h http.Handler) (*httptest.Server, *Runner) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sonde test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return srv, NewRunner(RunnerOptions{TLSConfig: &tls.Config{RootCAs: pool}})
}

// mockServer serves WireMock stub mappings.
func mockServer(t *testing.T, mappings ...string) *httptest.Server {
	t.Helper()
	m := mock.New(mock.Options{})
	for _, js := range mappings {
		_, err := m.AddMappingsJSON([]byte(js))
		require.NoError(t, err, js)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

// localhostURL rewrites a test server's 127.0.0.1 URL to localhost, so
// that requests do a DNS lookup.
func localhostURL(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	scheme := "http"
	if srv.TLS != nil {
		scheme = "https"
	}
	return scheme + "://localhost:" + port
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
