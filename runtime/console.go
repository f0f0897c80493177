package runtime

import (
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setupConsole (child) opens a new pty from the container's own devpts,
// sends the master to the parent and makes the slave this process's
// controlling terminal and stdio (pty(7), credentials(7) "controlling
// terminal"). It runs after pivot_root so /dev/ptmx is the container's.
func (in *initState) setupConsole() error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer master.Close()
	// unlockpt(3): clear the lock so the slave can be opened.
	var unlock int32
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, int(unlock)); err != nil {
		return fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("ptsname: %w", err)
	}
	slavePath := fmt.Sprintf("/dev/pts/%d", n)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer slave.Close()
	if err := in.conn.send(message{Type: msgConsole}, int(master.Fd())); err != nil {
		return err
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	return nil
}

// sendConsole (parent) passes the pty master to the --console-socket, the
// way runc does: one message whose data is a name and whose SCM_RIGHTS
// carries the fd. The receiver (a shim, containerd, recvtty) owns it.
func sendConsole(socketPath string, master *os.File) error {
	conn, err := net.Dial("unix", socketPath)
	if err != nil {
		return fmt.Errorf("connect console socket %s: %w", socketPath, err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("console socket %s is not a unix socket", socketPath)
	}
	oob := unix.UnixRights(int(master.Fd()))
	if _, _, err := uc.WriteMsgUnix([]byte(master.Name()), oob, nil); err != nil {
		return fmt.Errorf("send console to %s: %w", socketPath, err)
	}
	return nil
}

// Winsize is a terminal size in rows and columns.
type Winsize struct{ Rows, Cols uint16 }

// SetWinsize sets the size of the pty behind master (TIOCSWINSZ); the
// kernel then sends SIGWINCH to the container's foreground process group.
func SetWinsize(master *os.File, ws Winsize) error {
	w := unix.Winsize{Row: ws.Rows, Col: ws.Cols}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCSWINSZ, uintptr(unsafe.Pointer(&w)))
	if e != 0 {
		return e
	}
	return nil
}
