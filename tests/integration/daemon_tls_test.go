//go:build integration

package integration

// `minirun daemon -H tcp://127.0.0.1:PORT --tlsverify …`: mutual TLS as
// dockerd serves it, checked with the docker client. The CA, the server's
// and the client's certificates are made here with crypto/x509.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA and the certificates it signed, as PEM files in a dir.
type testPKI struct {
	dir                       string
	ca, serverCert, serverKey string
	clientCert, clientKey     string
	otherCert, otherKey       string // signed by another CA
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newCA makes a self-signed CA.
func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// issue signs a leaf certificate for a server (127.0.0.1) or a client.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, server bool, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.Subject.CommonName = "127.0.0.1"
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certPath, "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyPath, "EC PRIVATE KEY", kder)
}

func newTestPKI(t *testing.T) *testPKI {
	dir := t.TempDir()
	p := &testPKI{dir: dir}
	p.ca = filepath.Join(dir, "ca.pem")
	p.serverCert, p.serverKey = filepath.Join(dir, "server-cert.pem"), filepath.Join(dir, "server-key.pem")
	p.clientCert, p.clientKey = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	p.otherCert, p.otherKey = filepath.Join(dir, "other-cert.pem"), filepath.Join(dir, "other-key.pem")
	ca, caKey := newCA(t, "minirun test CA")
	writePEM(t, p.ca, "CERTIFICATE", ca.Raw)
	issue(t, ca, caKey, 2, true, p.serverCert, p.serverKey)
	issue(t, ca, caKey, 3, false, p.clientCert, p.clientKey)
	other, otherKey := newCA(t, "another CA")
	issue(t, other, otherKey, 4, false, p.otherCert, p.otherKey)
	return p
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemonArgs starts `minirun daemon` with args after the command and
// waits until ready() says it answers. It is stopped (SIGTERM) at the end.
func startDaemonArgs(t *testing.T, ready func() bool, args ...string) (cmd *exec.Cmd, log string) {
	t.Helper()
	return startDaemonWith(t, ready, nil, stateRoot, dataRoot, args...)
}

// startDaemonWith is startDaemonArgs over the given roots, its command
// line after wrap.
func startDaemonWith(t *testing.T, ready func() bool, wrap []string, root, data string, args ...string) (cmd *exec.Cmd, log string) {
	t.Helper()
	if dockerClient() == "" {
		t.Fatal("the docker client is missing: scripts/setup.sh installs Debian's docker.io for it")
	}
	log = filepath.Join(t.TempDir(), "daemon.log")
	// Registered first, so it runs last: the log is whole by then.
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("daemon log (%v):\n%s", args, b)
		}
	})
	argv := append(append([]string{}, wrap...), binary, "--root", root, "--data-root", data, "daemon")
	cmd = exec.Command(argv[0], append(argv[1:], args...)...)
	startLogged(t, cmd, log)
	for deadline := time.Now().Add(10 * time.Second); !ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			t.Fatalf("the daemon %v did not come up: %s", args, b)
		}
	}
	return cmd, log
}

// dockerEnv is the client's environment with its own config kept out.
func dockerEnv(t *testing.T, extra ...string) []string {
	return append(os.Environ(), append([]string{"DOCKER_CONFIG=" + filepath.Join(t.TempDir(), "docker-config"),
		"DOCKER_CONTEXT=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_HOST="}, extra...)...)
}

func TestDaemonTLS(t *testing.T) {
	p := newTestPKI(t)
	port := freePort(t)
	host := "tcp://127.0.0.1:" + strconv.Itoa(port)
	tcpUp := func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	// Plain TCP is refused, and leaves nothing listening.
	out, err := exec.Command(binary, "--root", stateRoot, "--data-root", dataRoot, "daemon", "-H", host).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "without TLS") || tcpUp() {
		t.Fatalf("minirun daemon -H %s without TLS: %v %s; want it refused", host, err, out)
	}
	startDaemonArgs(t, tcpUp, "-H", host, "--tlsverify", "--tlscacert", p.ca, "--tlscert", p.serverCert, "--tlskey", p.serverKey)
	docker := func(args ...string) (string, error) {
		cmd := exec.Command(dockerClient(), args...)
		cmd.Env = dockerEnv(t)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	out2, err := docker("--tlsverify", "--tlscacert", p.ca, "--tlscert", p.clientCert, "--tlskey", p.clientKey,
		"-H", host, "version", "--format", "{{.Server.APIVersion}}")
	if err != nil || strings.TrimSpace(out2) != "1.57" {
		t.Fatalf("docker --tlsverify … version: %v %q", err, out2)
	}
	// A client without a certificate: the handshake fails, nothing is served.
	if out2, err := docker("--tlsverify", "--tlscacert", p.ca, "-H", host, "version", "--format", "{{.Server.APIVersion}}"); err == nil || strings.Contains(out2, "1.57") {
		t.Fatalf("docker without a client certificate: %v %q; want it refused", err, out2)
	} else {
		t.Logf("refused without a client certificate: %s", strings.TrimSpace(out2))
	}
	// One signed by another CA: refused too.
	if out2, err := docker("--tlsverify", "--tlscacert", p.ca, "--tlscert", p.otherCert, "--tlskey", p.otherKey, "-H", host, "version", "--format", "{{.Server.APIVersion}}"); err == nil || strings.Contains(out2, "1.57") {
		t.Fatalf("docker with a certificate of another CA: %v %q; want it refused", err, out2)
	}
	// Plain HTTP on the TLS port gets no API answer.
	if out2, err := exec.Command("curl", "-sS", "--max-time", "5", "http://127.0.0.1:"+strconv.Itoa(port)+"/_ping").CombinedOutput(); err == nil && strings.TrimSpace(string(out2)) == "OK" {
		t.Fatalf("plain HTTP on the TLS port was served: %q", out2)
	}
}
