package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
)

// DefaultHost is where the daemon listens unless -H says otherwise:
// beside the containers' state, as dockerd's /run/docker.sock.
const DefaultHost = "unix:///run/minirun/docker.sock"

// SocketGroup is the group that may use the socket, as with dockerd: its
// members can do anything root can (see docs/daemon.md).
const SocketGroup = "docker"

// Listen opens the socket -H names. Only unix:// is served for now: TCP
// (with mutual TLS, dockerd's --tlsverify) is left for later, and refused
// rather than opened without TLS.
func Listen(host string, tr *explain.Tracer, undo *cleanup.Stack) (net.Listener, error) {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok || path == "" {
		if strings.HasPrefix(host, "tcp://") {
			return nil, fmt.Errorf("-H %s: TCP is not served yet (it needs mutual TLS, which minirun's daemon does not have): use unix://PATH", host)
		}
		return nil, fmt.Errorf("-H %q: want unix:///path/to/docker.sock", host)
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("-H %s: the socket path must be absolute", host)
	}
	// A dry run (`explain api --dry-run`) describes the socket step and
	// touches nothing: it returns no listener.
	if !tr.DryRun() {
		if err := clearStale(path); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
	}
	gid, group := 0, "root"
	if g, err := user.LookupGroup(SocketGroup); err == nil {
		if n, err := strconv.Atoi(g.Gid); err == nil {
			gid, group = n, SocketGroup
		}
	}
	var l net.Listener
	err := tr.Do(explain.Step{
		ID: "components-daemon-socket", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Abre o socket do daemon: " + path, EN: "Open the daemon's socket: " + path},
		Why: explain.Text{PT: "O cliente docker fala HTTP com o daemon por esse socket; quem pode escrever nele manda no host como root (modo 0660, grupo " + group + ").",
			EN: "The docker client speaks HTTP to the daemon over this socket; whoever can write to it commands the host as root (mode 0660, group " + group + ")."},
		Shell: fmt.Sprintf("socat UNIX-LISTEN:%s,fork,mode=0660,group=%s …   # bind(2) + listen(2)", path, group),
		Do: func() error {
			var err error
			if l, err = net.Listen("unix", path); err != nil {
				return err
			}
			// bind(2) made the socket with the umask's mode (0755: only
			// root may connect, connect(2) needs write permission); the
			// group gets in only now.
			if err := os.Chown(path, 0, gid); err != nil {
				l.Close()
				return err
			}
			if err := os.Chmod(path, 0o660); err != nil {
				l.Close()
				return err
			}
			return nil
		},
		// Closing a listener made by net.Listen unlinks its path.
		Undo:     func() error { l.Close(); return nil },
		Evidence: func() string { return "ls -l " + path + ": srw-rw---- root " + group },
	}, undo)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// clearStale removes a socket no daemon answers on (one killed with
// SIGKILL leaves it), and refuses to touch one that answers or a path
// that is not a socket.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("another daemon is listening on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
