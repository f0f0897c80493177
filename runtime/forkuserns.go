package runtime

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Joining a user namespace from Go.
//
// setns(2) refuses CLONE_NEWUSER to a multithreaded process (EINVAL: a
// process's threads must share one set of credentials), and a Go program
// always runs several threads: the runtime starts them before main. runc
// solves this with C that runs before the Go runtime (nsexec.c, a cgo
// constructor). minirun stays pure Go and uses the one moment when a copy
// of the process has a single thread: right after fork. The child of a
// plain clone(2), without CLONE_VM or CLONE_THREAD, is a copy of the
// calling thread only. Until it execs it may not touch the Go runtime (no
// allocation, no scheduling, no stack growth: its other threads do not
// exist), so it makes raw system calls and nothing else, as the standard
// library's own fork child does (syscall.forkAndExecInChild1):
//
//	setns(userns, CLONE_NEWUSER)   full capabilities in the container's
//	                               user namespace, still host uid 0
//	setgroups(0, NULL)             drop the host's supplementary groups
//	setresgid(0,0,0)               become the namespace's root, as
//	setresuid(0,0,0)               nsenter --user does; otherwise execve
//	                               would drop every capability (uid 0 of
//	                               the host is unmapped in there)
//	dup3(...)                      stdio, fd 3 and fd 4 in place
//	execve(minirun init)           a fresh Go runtime, now inside
//
// The other namespaces were joined by the parent thread before the fork
// (the child inherits them), and the mount namespace is joined by the
// child after execve, as for any exec (see Exec).

// maxChildFiles bounds the files the child gets (stdio, fd 3, fd 4).
const maxChildFiles = 5

// Steps the child reports when one of them fails, for the error message.
var userNSChildSteps = [...]string{"", "setns user", "setgroups", "setresgid", "setresuid", "dup3", "execve"}

// startInUserNS starts path with args and env as a child that joined the user
// namespace behind userns and became its root, with files[i] as its fd i.
// The calling thread must be locked: its namespaces are the child's.
func startInUserNS(userns *os.File, path string, args, env []string, files []*os.File) (*os.Process, error) {
	if len(files) > maxChildFiles {
		return nil, fmt.Errorf("start in user namespace: %d files, at most %d", len(files), maxChildFiles)
	}
	// Everything the child reads is prepared here: it may not allocate.
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return nil, err
	}
	argv, err := syscall.SlicePtrFromStrings(args)
	if err != nil {
		return nil, err
	}
	// initCmd's: the user's program gets its environment from the spec.
	envv, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return nil, err
	}
	// The child reports a failure on a close-on-exec pipe; a successful
	// execve closes it, and the parent reads EOF.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Its write end, too, must sit above the numbers the child's dup3
	// calls fill.
	wfd, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD_CLOEXEC, 3*maxChildFiles)
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("dup pipe: %w", err)
	}

	var fds [maxChildFiles]int
	var nfds int
	var nsfd int
	pid, errno, err := func() (int, syscall.Errno, error) {
		// ForkLock keeps other goroutines from creating fds (not yet
		// close-on-exec) while the child is being made.
		syscall.ForkLock.Lock()
		defer syscall.ForkLock.Unlock()
		defer unix.Close(wfd)
		// Copies of the files above the numbers the child gives them, so
		// one dup3 cannot overwrite a file another still needs.
		defer func() {
			for i := 0; i < nfds; i++ {
				unix.Close(fds[i])
			}
			if nsfd > 0 {
				unix.Close(nsfd)
			}
		}()
		for _, f := range files {
			fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3*maxChildFiles)
			if err != nil {
				return 0, 0, fmt.Errorf("dup %s: %w", f.Name(), err)
			}
			fds[nfds] = fd
			nfds++
		}
		fd, err := unix.FcntlInt(userns.Fd(), unix.F_DUPFD_CLOEXEC, 3*maxChildFiles)
		if err != nil {
			return 0, 0, fmt.Errorf("dup %s: %w", userns.Name(), err)
		}
		nsfd = fd
		// Block every signal on this thread across the fork: a Go signal
		// handler must not run in the child. The child keeps them blocked
		// through execve; minirun init clears the mask before it runs the
		// user's program.
		var all, old unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^uint64(0)
		}
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
			return 0, 0, fmt.Errorf("block signals: %w", err)
		}
		pid, errno := forkIntoUserNS(nsfd, pathp, &argv[0], &envv[0], &fds, nfds, wfd)
		unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		return pid, errno, nil
	}()
	if err != nil {
		return nil, err
	}
	if errno != 0 {
		return nil, fmt.Errorf("clone: %w", errno)
	}
	var report [8]byte
	if _, err := io.ReadFull(r, report[:]); err == nil {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		step := binary.LittleEndian.Uint32(report[:4])
		e := syscall.Errno(binary.LittleEndian.Uint32(report[4:]))
		name := "?"
		if int(step) < len(userNSChildSteps) {
			name = userNSChildSteps[step]
		}
		return nil, fmt.Errorf("join the user namespace: %s: %w", name, e)
	}
	return os.FindProcess(pid)
}

// forkIntoUserNS forks; the child joins the user namespace and execs (see
// the top of this file). It returns the child's pid in the parent.
//
//go:nosplit
//go:norace
func forkIntoUserNS(nsfd int, path *byte, argv, envv **byte, fds *[maxChildFiles]int, nfds, errPipe int) (int, syscall.Errno) {
	r1, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if e != 0 || r1 != 0 {
		return int(r1), e // the parent, or clone failed
	}
	// The child: one thread, raw system calls only.
	if _, _, e = syscall.RawSyscall(unix.SYS_SETNS, uintptr(nsfd), unix.CLONE_NEWUSER, 0); e != 0 {
		childFail(errPipe, 1, e)
	}
	if _, _, e = syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		childFail(errPipe, 2, e)
	}
	if _, _, e = syscall.RawSyscall(syscall.SYS_SETRESGID, 0, 0, 0); e != 0 {
		childFail(errPipe, 3, e)
	}
	if _, _, e = syscall.RawSyscall(syscall.SYS_SETRESUID, 0, 0, 0); e != 0 {
		childFail(errPipe, 4, e)
	}
	for i := 0; i < nfds; i++ {
		// dup3 without O_CLOEXEC: the copy survives execve.
		if _, _, e = syscall.RawSyscall(syscall.SYS_DUP3, uintptr(fds[i]), uintptr(i), 0); e != 0 {
			childFail(errPipe, 5, e)
		}
	}
	_, _, e = syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(argv)), uintptr(unsafe.Pointer(envv)))
	childFail(errPipe, 6, e)
	return 0, 0 // not reached
}

// childFail writes which step failed and its errno to the parent, and
// exits the child.
//
//go:nosplit
//go:norace
func childFail(errPipe int, step uint32, e syscall.Errno) {
	var b [8]byte
	b[0], b[1], b[2], b[3] = byte(step), byte(step>>8), byte(step>>16), byte(step>>24)
	b[4], b[5], b[6], b[7] = byte(e), byte(e>>8), byte(e>>16), byte(e>>24)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(errPipe), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
}
