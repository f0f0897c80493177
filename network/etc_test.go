package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minirun/minirun/explain"
)

func withHostFiles(t *testing.T, resolv, resolved string) {
	t.Helper()
	dir := t.TempDir()
	oldR, oldH, oldS := hostResolvConf, hostHosts, resolvedUpstream
	t.Cleanup(func() { hostResolvConf, hostHosts, resolvedUpstream = oldR, oldH, oldS })
	hostResolvConf, hostHosts, resolvedUpstream = filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts"), filepath.Join(dir, "resolved.conf")
	os.WriteFile(hostResolvConf, []byte(resolv), 0o644)
	os.WriteFile(hostHosts, []byte("127.0.0.1 localhost\n192.0.2.2 myhost\n"), 0o644)
	if resolved != "" {
		os.WriteFile(resolvedUpstream, []byte(resolved), 0o644)
	}
}

func read(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEtcFilesUserNetwork(t *testing.T) {
	withHostFiles(t, "nameserver 192.0.2.53\nsearch lab.example\noptions ndots:2 edns0\n", "")
	ep := &Endpoint{Driver: DriverBridge, IPv4Address: "10.78.0.2/24", DNSServer: "10.78.0.1"}
	hosts, hn, resolv, err := writeEtcFiles(t.TempDir(), "web1", []*Endpoint{ep}, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := read(t, hosts); !strings.Contains(h, "127.0.0.1\tlocalhost\n") || !strings.Contains(h, "10.78.0.2\tweb1\n") {
		t.Fatalf("hosts:\n%s", h)
	}
	if read(t, hn) != "web1\n" {
		t.Fatal("hostname")
	}
	if r := read(t, resolv); r != "nameserver 10.78.0.1\nsearch lab.example\noptions edns0 ndots:0\n" {
		t.Fatalf("resolv.conf:\n%s", r)
	}
}

func TestEtcFilesDefaultBridgeDropsLoopbackResolvers(t *testing.T) {
	withHostFiles(t, "nameserver 127.0.0.53\noptions edns0\n", "nameserver 192.0.2.53\nnameserver 127.0.0.1\n")
	ep := &Endpoint{Driver: DriverBridge, IPv4Address: "10.77.0.2/16"}
	_, _, resolv, err := writeEtcFiles(t.TempDir(), "c", []*Endpoint{ep}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := read(t, resolv); r != "nameserver 192.0.2.53\noptions edns0\n" {
		t.Fatalf("resolv.conf with systemd-resolved:\n%s", r)
	}
	withHostFiles(t, "nameserver 127.0.0.1\n", "")
	_, _, resolv, _ = writeEtcFiles(t.TempDir(), "c", []*Endpoint{ep}, "")
	if r := read(t, resolv); r != "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" {
		t.Fatalf("resolv.conf with loopback only:\n%s", r)
	}
	_, _, resolv, _ = writeEtcFiles(t.TempDir(), "c", []*Endpoint{ep}, "192.0.2.99")
	if r := read(t, resolv); r != "nameserver 192.0.2.99\n" {
		t.Fatalf("resolv.conf with --dns:\n%s", r)
	}
}

func TestEtcFilesHostNetwork(t *testing.T) {
	withHostFiles(t, "nameserver 127.0.0.53\n", "")
	hosts, _, resolv, err := writeEtcFiles(t.TempDir(), "myhost", []*Endpoint{{Driver: DriverHost}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if read(t, hosts) != "127.0.0.1 localhost\n192.0.2.2 myhost\n" || read(t, resolv) != "nameserver 127.0.0.53\n" {
		t.Fatalf("host network files: %q %q", read(t, hosts), read(t, resolv))
	}
}

// The container's /etc files are written by a step whose evidence is
// their content: the student sees the name and address the container
// will find, in one language at a time.
func TestEtcWriteStepShowsTheContent(t *testing.T) {
	withHostFiles(t, "nameserver 192.0.2.53\n", "")
	dir := t.TempDir()
	ep := &Endpoint{Driver: DriverBridge, IPv4Address: "10.78.0.2/24", DNSServer: "10.78.0.1"}
	rec := &explain.Recorder{}
	if err := explain.New(rec).Do(EtcWriteStep(dir, "web1", []*Endpoint{ep}), nil); err != nil {
		t.Fatal(err)
	}
	if h := read(t, filepath.Join(dir, "hosts")); !strings.Contains(h, "10.78.0.2\tweb1\n") {
		t.Fatalf("hosts:\n%s", h)
	}
	ev := rec.Events[0]
	if ev.Step.ID != StepEtcWrite || ev.EvidenceText == nil {
		t.Fatalf("event %+v", ev)
	}
	for _, want := range []string{"/etc/hostname     web1", "/etc/hosts        10.78.0.2 web1", "/etc/resolv.conf  nameserver 10.78.0.1"} {
		if !strings.Contains(ev.EvidenceText.PT, want) || !strings.Contains(ev.EvidenceText.EN, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev.EvidenceText.EN)
		}
	}
	if strings.Contains(ev.EvidenceText.EN, "linhas") || strings.Contains(ev.EvidenceText.PT, "lines") {
		t.Errorf("evidence mixes languages:\n%s\n%s", ev.EvidenceText.PT, ev.EvidenceText.EN)
	}
}
