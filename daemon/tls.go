package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
)

// TLSOptions are dockerd's TLS flags (dockerd(8), "Daemon socket option";
// https://docs.docker.com/engine/security/protect-access/):
//
//	--tls            serve TLS with --tlscert/--tlskey; any client may connect
//	--tlsverify      --tls, and the client must present a certificate signed
//	                 by --tlscacert (mutual TLS): the only safe way to serve TCP
//	--tlscacert/--tlscert/--tlskey   PEM files
//
// Without either, a tcp:// socket is plain HTTP, which gives root on this
// host to anyone who can reach the port: it is refused unless Insecure says
// the operator asked for it (dockerd 27 refuses it too unless --tls=false is
// given explicitly, after warning since 20.10).
type TLSOptions struct {
	TLS, Verify       bool
	CACert, Cert, Key string
	Insecure          bool // --tls=false given explicitly: serve plain TCP, warned
	Warn              func(string)
}

// serverTLSConfig builds the crypto/tls configuration: TLS 1.2 at least
// (dockerd's default since 17.x, go-connections' tlsconfig.ServerDefault)
// and, with Verify, a client certificate required and checked against the
// CA pool (tls.RequireAndVerifyClientCert), so a client without one fails
// the handshake before any HTTP is read.
func serverTLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.Cert == "" || o.Key == "" {
		return nil, errors.New("--tls needs --tlscert and --tlskey")
	}
	pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
	if err != nil {
		return nil, fmt.Errorf("load --tlscert %s / --tlskey %s: %w", o.Cert, o.Key, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if o.Verify {
		if o.CACert == "" {
			return nil, errors.New("--tlsverify needs --tlscacert")
		}
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, fmt.Errorf("read --tlscacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tlscacert %s: no PEM certificate in it", o.CACert)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ListenTCP opens tcp://ADDR:PORT with the TLS dockerd would use for the
// same flags. The TLS files are read before the port is opened, so a bad
// certificate leaves nothing listening.
func ListenTCP(host string, o TLSOptions, tr *explain.Tracer, undo *cleanup.Stack) (net.Listener, error) {
	addr, ok := strings.CutPrefix(host, "tcp://")
	if !ok || addr == "" {
		return nil, fmt.Errorf("-H %q: want tcp://ADDR:PORT", host)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("-H %s: %w", host, err)
	}
	if o.Verify {
		o.TLS = true
	}
	var cfg *tls.Config
	switch {
	case o.TLS:
		var err error
		if cfg, err = serverTLSConfig(o); err != nil {
			return nil, err
		}
		if !o.Verify && o.Warn != nil {
			o.Warn("WARNING: --tls without --tlsverify: any client that reaches " + addr + " is served (and is root on this host); add --tlsverify --tlscacert")
		}
	case o.Insecure:
		if o.Warn != nil {
			o.Warn("WARNING: API is accessible on http://" + addr + " without encryption. Access to the remote API is equivalent to root access on the host. Refer to the 'Docker daemon attack surface' section in the documentation for more information: https://docs.docker.com/go/attack-surface/")
		}
	default:
		return nil, fmt.Errorf("-H %s: serving TCP without TLS gives root on this host to anyone who reaches the port: use --tlsverify --tlscacert --tlscert --tlskey (or --tls=false to serve it in the clear anyway)", host)
	}
	mode := "mutual TLS (client certificate verified against " + o.CACert + ")"
	shell := fmt.Sprintf("socat OPENSSL-LISTEN:%s,fork,reuseaddr,cert=%s,key=%s,cafile=%s,verify=1 …", portOf(addr), o.Cert, o.Key, o.CACert)
	switch {
	case cfg == nil:
		mode, shell = "plain HTTP (no TLS)", fmt.Sprintf("socat TCP-LISTEN:%s,bind=%s,fork …", portOf(addr), hostOf(addr))
	case !o.Verify:
		mode = "TLS without client certificates"
		shell = fmt.Sprintf("socat OPENSSL-LISTEN:%s,fork,reuseaddr,cert=%s,key=%s,verify=0 …", portOf(addr), o.Cert, o.Key)
	}
	var l net.Listener
	err := tr.Do(explain.Step{
		ID: "components-daemon-tls", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Abre a porta TCP do daemon: " + addr, EN: "Open the daemon's TCP port: " + addr},
		Why: explain.Text{PT: "Por TCP, quem alcança a porta manda no host como root: só com TLS mútuo (--tlsverify) o daemon sabe quem é o cliente. Modo: " + mode + ".",
			EN: "Over TCP whoever reaches the port commands the host as root: only with mutual TLS (--tlsverify) does the daemon know who the client is. Mode: " + mode + "."},
		Shell: shell,
		Do: func() error {
			var err error
			if l, err = net.Listen("tcp", addr); err != nil {
				return err
			}
			if cfg != nil {
				l = tls.NewListener(l, cfg)
			}
			return nil
		},
		Undo:     func() error { l.Close(); return nil },
		Evidence: func() string { return "ss -ltn 'sport = :" + portOf(addr) + "'" },
	}, undo)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
