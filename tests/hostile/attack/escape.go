//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A check is one escape attempt. run returns nil when the attempt worked
// (the escape is open), an errno, or a denial (the attempt was refused
// for a reason that is not an errno: a masked file that reads empty).
type check struct {
	name string
	// want are the errnos that mean "refused by the confinement". For a
	// syscall the default seccomp profile blocks, that is EPERM alone: an
	// EINVAL would only say the arguments were wrong.
	want []syscall.Errno
	run  func() error
}

// denial is a refusal that is not an errno.
type denial string

func (d denial) Error() string { return string(d) }

// absent means this kernel has no such door (a file that a kernel built
// without modules or magic SysRq does not have): nothing to check here.
type absent string

func (a absent) Error() string { return string(a) }

var (
	eperm  = []syscall.Errno{unix.EPERM}
	erofs  = []syscall.Errno{unix.EROFS, unix.EACCES, unix.EPERM}
	nosys  = []syscall.Errno{unix.EPERM, unix.ENOSYS} // clone3 is refused with ENOSYS by Docker's profile
	enoent = []syscall.Errno{unix.EPERM, unix.ENOENT}
)

// checkResult is the JSON line of one check.
type checkResult struct {
	Check  string `json:"check"`
	Result string `json:"result"` // denied, allowed, error, absent
	Detail string `json:"detail,omitempty"`
}

func runEscapeChecks() {
	// A scratch directory inside the container for mount points and nodes.
	os.MkdirAll("/tmp/hostile", 0o755)
	only := map[string]bool{}
	for _, n := range os.Args[2:] {
		only[n] = true
	}
	for _, c := range escapeChecks() {
		if len(only) > 0 && !only[c.name] {
			continue
		}
		r := checkResult{Check: c.name}
		err := safeRun(c.run)
		var errno syscall.Errno
		var d denial
		var a absent
		switch {
		case errors.As(err, &a):
			r.Result, r.Detail = "absent", string(a)
		case err == nil:
			r.Result, r.Detail = "allowed", "the call succeeded"
		case errors.Is(err, errAllowed):
			r.Result, r.Detail = "allowed", err.Error()
		case errors.As(err, &d):
			r.Result, r.Detail = "denied", string(d)
		case errors.As(err, &errno) && wanted(errno, c.want):
			r.Result, r.Detail = "denied", unix.ErrnoName(errno)+": "+err.Error()
		default:
			r.Result, r.Detail = "error", err.Error()
		}
		emit(r)
	}
	emit(checkResult{Check: "_done", Result: "denied"})
}

func wanted(e syscall.Errno, want []syscall.Errno) bool {
	for _, w := range want {
		if e == w {
			return true
		}
	}
	return false
}

// safeRun turns a panic in a check into an error, so one broken check
// cannot hide the others.
func safeRun(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// onFreshThread runs f on an OS thread that is thrown away afterwards:
// setns and unshare change the calling thread, and a changed thread must
// never go back to Go's pool (the goroutine exits still locked).
func onFreshThread(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ch <- f()
	}()
	return <-ch
}

func mountCheck(name, source, fstype string, flags uintptr, data string) check {
	return check{name, eperm, func() error {
		dir, err := os.MkdirTemp("/tmp/hostile", name+"-")
		if err != nil {
			return err
		}
		err = unix.Mount(source, dir, fstype, flags, data)
		if err == nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		return err
	}}
}

func syscallCheck(name string, want []syscall.Errno, trap uintptr, args ...uintptr) check {
	return check{name, want, func() error {
		var a [6]uintptr
		copy(a[:], args)
		r, _, e := unix.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
		if e != 0 {
			return e
		}
		if int(r) > 2 {
			unix.Close(int(r)) // a file descriptor: the call worked
		}
		return nil
	}}
}

// openForWrite opens path for writing and never writes: the open alone
// proves the escape, and writing a kernel knob from a test would change
// the host.
func openForWrite(name, path string) check {
	return check{name, erofs, func() error {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return absent(path + " does not exist on this kernel")
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return unwrap(err)
		}
		f.Close()
		return nil
	}}
}

// readsNothing reads a masked file: the mask is /dev/null (0 bytes) or
// the file is missing; any byte means the host's content shows through.
func readsNothing(name, path string) check {
	return check{name, enoent, func() error {
		f, err := os.Open(path)
		if err != nil {
			return unwrap(err)
		}
		defer f.Close()
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		if n == 0 {
			return denial(fmt.Sprintf("%s reads 0 bytes (masked) %v", path, err))
		}
		return nil
	}}
}

func unwrap(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// mknodOpen makes a device node in /dev (a tmpfs without nodev, as in
// Docker) and opens it: CAP_MKNOD and the device cgroup's "m" allow the
// node, the cgroup's allowlist must refuse the open with EPERM.
func mknodOpen(name string, mode uint32, major, minor uint32) check {
	return check{name, eperm, func() error {
		p := "/dev/hostile-" + name
		os.Remove(p)
		if err := unix.Mknod(p, mode|0o600, int(unix.Mkdev(major, minor))); err != nil {
			return err // refusing the node refuses the attack too
		}
		defer os.Remove(p)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
		return nil
	}}
}

// firstBlockDevice is a block device of the host, from sysfs (read-only
// but visible): "MAJOR:MINOR" of /sys/dev/block's first entry, or the
// first SCSI disk when there is none.
func firstBlockDevice() (uint32, uint32) {
	ents, _ := os.ReadDir("/sys/dev/block")
	for _, e := range ents {
		var ma, mi uint32
		if _, err := fmt.Sscanf(e.Name(), "%d:%d", &ma, &mi); err == nil {
			return ma, mi
		}
	}
	return 8, 0
}

// childCheck starts this program again (helper subcommand args) with
// attrs; the start failing with a wanted errno is a denial, and so is the
// helper exiting 3 ("refused inside").
func childCheck(name string, want []syscall.Errno, attrs *syscall.SysProcAttr, args ...string) check {
	return check{name, want, func() error {
		cmd := exec.Command("/proc/self/exe", args...)
		cmd.SysProcAttr = attrs
		out, err := cmd.CombinedOutput()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ee.ExitCode() == 3 {
					return denial(strings.TrimSpace(string(out)))
				}
				return fmt.Errorf("helper exit %d: %s", ee.ExitCode(), out)
			}
			return unwrap(err)
		}
		return nil
	}}
}

// childMount is the helper that runs inside a new user and mount
// namespace (if the runtime let it be made): CVE-2022-0185 and friends need
// exactly this, a filesystem mounted by "root" of a user namespace.
func childMount() int {
	dir, _ := os.MkdirTemp("", "um-")
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		fmt.Println("mount in the new namespaces:", err)
		return 3
	}
	return 0
}

// chrootEscape is the classic chroot break-out: keep a descriptor of /,
// chroot into a subdirectory, fchdir back out, walk up with "..", chroot
// there. Under pivot_root the walk stops at the container's root (the old
// root is detached); under a plain chroot it reaches the host's /.
func chrootEscape() int {
	var before unix.Stat_t
	if err := unix.Stat("/", &before); err != nil {
		fmt.Println(err)
		return 2
	}
	os.MkdirAll("/tmp/hostile/jail", 0o755)
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	if err := unix.Chroot("/tmp/hostile/jail"); err != nil {
		fmt.Println("chroot:", err)
		return 3
	}
	if err := unix.Fchdir(fd); err != nil {
		fmt.Println("fchdir:", err)
		return 3
	}
	for i := 0; i < 64; i++ {
		unix.Chdir("..")
	}
	if err := unix.Chroot("."); err != nil {
		fmt.Println("chroot .:", err)
		return 3
	}
	var after unix.Stat_t
	unix.Stat("/", &after)
	_, attackErr := os.Stat("/attack")
	if after.Dev == before.Dev && after.Ino == before.Ino && attackErr == nil {
		fmt.Println("the walk ended at the container's own root")
		return 3
	}
	ents, _ := os.ReadDir("/")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	fmt.Println("escaped to a root that lists", names)
	return 0
}

func escapeChecks() []check {
	blkMajor, blkMinor := firstBlockDevice()
	now := func() unix.Timespec {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
		return ts
	}
	checks := []check{
		// Filesystems: mount(2), umount(2), the new mount API, pivot_root.
		mountCheck("mount_proc", "proc", "proc", 0, ""),
		mountCheck("mount_sysfs", "sysfs", "sysfs", 0, ""),
		mountCheck("mount_tmpfs", "none", "tmpfs", 0, ""),
		mountCheck("mount_bind_root", "/", "", unix.MS_BIND|unix.MS_REC, ""),
		// CVE-2022-0492: a cgroup v1 hierarchy mounted inside, then its
		// release_agent written: a program the host runs as root.
		mountCheck("mount_cgroup_v1_release_agent", "cgroup", "cgroup", 0, "rdma"),
		{"remount_sys_rw", eperm, func() error { return unix.Mount("", "/sys", "", unix.MS_REMOUNT, "") }},
		{"remount_proc_sys_rw", eperm, func() error {
			return unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND, "")
		}},
		{"umount_proc_kcore_mask", eperm, func() error { return unix.Unmount("/proc/kcore", unix.MNT_DETACH) }},
		{"umount_proc_sys_ro", eperm, func() error { return unix.Unmount("/proc/sys", unix.MNT_DETACH) }},
		{"umount_sys_firmware_mask", eperm, func() error { return unix.Unmount("/sys/firmware", unix.MNT_DETACH) }},
		{"fsopen_tmpfs", eperm, func() error {
			fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"open_tree_clone_root", eperm, func() error {
			fd, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"pivot_root", eperm, func() error { return unix.PivotRoot("/tmp/hostile", "/tmp/hostile") }},

		// Namespaces: unshare, clone with namespace flags, setns into pid 1's.
		childCheck("unshare_user_then_mount", eperm, &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, "child-mount"),
		childCheck("unshare_mount_ns", eperm, &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}, "child-mount"),
		childCheck("clone_newuser", nosys, &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}, "child-mount"),
		{"unshare_net", eperm, func() error { return onFreshThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }) }},
		{"unshare_uts", eperm, func() error { return onFreshThread(func() error { return unix.Unshare(unix.CLONE_NEWUTS) }) }},
	}
	for _, ns := range []string{"mnt", "net", "pid", "ipc", "uts", "cgroup", "user"} {
		ns := ns
		checks = append(checks, check{"setns_pid1_" + ns, eperm, func() error {
			fd, err := unix.Open("/proc/1/ns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open /proc/1/ns/%s: %w", ns, err)
			}
			defer unix.Close(fd)
			return onFreshThread(func() error { return unix.Setns(fd, 0) })
		}})
	}
	checks = append(checks, []check{
		// Shocker (2014): open_by_handle_at walks to any inode of the
		// mount's filesystem, outside the container's root.
		{"open_by_handle_at_shocker", eperm, func() error {
			// The original used /.dockerinit, a file bind-mounted from the
			// host: its mount is the host's filesystem. Here /etc/hosts
			// and friends are; overlayfs itself has no file handles.
			for _, p := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/shm", "/"} {
				h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, 0)
				if err != nil {
					continue
				}
				mnt, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(mnt)
				fd, err := unix.OpenByHandleAt(mnt, h, unix.O_RDONLY)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}
			return fmt.Errorf("name_to_handle_at: no file of the container has a handle")
		}},

		// The kernel itself: kexec, modules, BPF, perf, keys, swap, reboot.
		// Arguments are chosen so that a call which got past the
		// permission check fails harmlessly (EINVAL, ENOEXEC) — and that
		// counts as "error", not "denied".
		syscallCheck("kexec_load", eperm, unix.SYS_KEXEC_LOAD, 0, 17 /* > KEXEC_SEGMENT_MAX */, 0, 0),
		syscallCheck("kexec_file_load", eperm, unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 0, 0, 0xffff0000),
		{"init_module", eperm, func() error { return unix.InitModule(make([]byte, 64), "") }},
		{"finit_module", eperm, func() error {
			f, err := os.Open("/attack")
			if err != nil {
				return err
			}
			defer f.Close()
			return unix.FinitModule(int(f.Fd()), "", 0)
		}},
		{"delete_module", eperm, func() error { return unix.DeleteModule("hostile_no_such_module", unix.O_NONBLOCK) }},
		{"bpf_map_create", eperm, func() error {
			// union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries.
			attr := [16]uint32{2 /* BPF_MAP_TYPE_ARRAY */, 4, 4, 1}
			r, _, e := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
			if e != 0 {
				return e
			}
			unix.Close(int(r))
			return nil
		}},
		{"perf_event_open", eperm, func() error {
			attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
				Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})), Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
			fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"keyctl_join_session", eperm, func() error { _, err := unix.KeyctlJoinSessionKeyring("hostile"); return err }},
		{"add_key", eperm, func() error {
			_, err := unix.AddKey("user", "hostile", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
			return err
		}},
		{"request_key", eperm, func() error { _, err := unix.RequestKey("user", "hostile-none", "", 0); return err }},
		{"swapon", eperm, func() error {
			os.WriteFile("/tmp/hostile/swap", make([]byte, 64<<10), 0o600)
			p, _ := unix.BytePtrFromString("/tmp/hostile/swap")
			_, _, e := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
			if e != 0 {
				return e
			}
			unix.Syscall(unix.SYS_SWAPOFF, uintptr(unsafe.Pointer(p)), 0, 0)
			return nil
		}},
		{"swapoff", eperm, func() error {
			p, _ := unix.BytePtrFromString("/tmp/hostile/no-such-swap")
			_, _, e := unix.Syscall(unix.SYS_SWAPOFF, uintptr(unsafe.Pointer(p)), 0, 0)
			if e != 0 {
				return e
			}
			return nil
		}},
		// CAD_OFF: in a pid namespace a permitted call returns EINVAL
		// (reboot_pid_ns knows only restart/halt/power off): never a reboot.
		{"reboot", eperm, func() error { return unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) }},

		// The clock is the host's: each call sets the time it just read.
		{"settimeofday", eperm, func() error {
			ts := now()
			tv := unix.NsecToTimeval(ts.Nano())
			return unix.Settimeofday(&tv)
		}},
		{"clock_settime", eperm, func() error { ts := now(); return unix.ClockSettime(unix.CLOCK_REALTIME, &ts) }},
		{"adjtimex_set", eperm, func() error {
			var tx unix.Timex
			if _, err := unix.Adjtimex(&tx); err != nil {
				return fmt.Errorf("adjtimex read: %w", err)
			}
			tx.Modes = unix.ADJ_STATUS
			_, err := unix.Adjtimex(&tx)
			return err
		}},

		// Devices: a node can be made, it must not open.
		mknodOpen("mknod_block_host_disk", unix.S_IFBLK, blkMajor, blkMinor),
		mknodOpen("mknod_dev_mem", unix.S_IFCHR, 1, 1),
		mknodOpen("mknod_dev_kmsg", unix.S_IFCHR, 1, 11),

		// procfs and sysfs: read-only and masked paths.
		openForWrite("proc_sys_kernel_core_pattern", "/proc/sys/kernel/core_pattern"),
		openForWrite("proc_sys_kernel_modprobe", "/proc/sys/kernel/modprobe"),
		openForWrite("proc_sysrq_trigger", "/proc/sysrq-trigger"),
		openForWrite("sys_kernel_uevent_helper", "/sys/kernel/uevent_helper"),
		readsNothing("proc_kcore_read", "/proc/kcore"),
		readsNothing("proc_keys_read", "/proc/keys"),
		readsNothing("proc_timer_list_read", "/proc/timer_list"),
		{"sys_firmware_list", enoent, func() error {
			ents, err := os.ReadDir("/sys/firmware")
			if err != nil {
				return unwrap(err)
			}
			if len(ents) == 0 {
				return denial("/sys/firmware is empty (masked)")
			}
			return nil
		}},
		{"cgroup_release_agent_write", erofs, func() error {
			// Whatever cgroup files the container sees must be read-only:
			// release_agent (v1), cgroup.procs and subtree_control.
			var found []string
			for _, g := range []string{"/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/*/release_agent",
				"/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/*/cgroup.procs", "/sys/fs/cgroup/cgroup.subtree_control"} {
				m, _ := filepath.Glob(g)
				found = append(found, m...)
			}
			if len(found) == 0 {
				return denial("no cgroup file is visible")
			}
			for _, p := range found {
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err == nil {
					f.Close()
					return fmt.Errorf("%s opens for writing: %w", p, errAllowed)
				}
				if e, ok := unwrap(err).(syscall.Errno); !ok || !wanted(e, erofs) {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			return unix.EROFS
		}},

		// Memory and I/O interfaces the default profile keeps out.
		syscallCheck("userfaultfd", eperm, unix.SYS_USERFAULTFD, unix.O_CLOEXEC),
		{"io_uring_setup", eperm, func() error {
			var params [120]byte // struct io_uring_params
			r, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
			if e != 0 {
				return e
			}
			unix.Close(int(r))
			return nil
		}},
		childCheck("chroot_fchdir_escape", eperm, nil, "chroot-escape"),

		// Everything else Docker's profile or capability set refuses.
		{"sethostname", eperm, func() error {
			h, _ := os.Hostname()
			return unix.Sethostname([]byte(h))
		}},
		{"setdomainname", eperm, func() error { return unix.Setdomainname([]byte("(none)")) }},
		{"acct", eperm, func() error { return unix.Acct("/tmp/hostile/acct") }},
		syscallCheck("quotactl_sync", eperm, unix.SYS_QUOTACTL, 0x800001 /* QCMD(Q_SYNC, USRQUOTA) */, 0, 0, 0),
		{"syslog_read_all", eperm, func() error { _, err := unix.Klogctl(3 /* SYSLOG_ACTION_READ_ALL */, make([]byte, 256)); return err }},
		{"iopl", eperm, func() error { return unix.Iopl(3) }},
		{"ioperm", eperm, func() error { return unix.Ioperm(0x80, 1, 1) }},
		{"fanotify_init", eperm, func() error {
			fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC, unix.O_RDONLY)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		syscallCheck("vhangup", eperm, unix.SYS_VHANGUP),
		syscallCheck("set_mempolicy", eperm, unix.SYS_SET_MEMPOLICY, 0 /* MPOL_DEFAULT */, 0, 0),
		syscallCheck("kcmp", eperm, unix.SYS_KCMP, uintptr(os.Getpid()), uintptr(os.Getpid()), 0 /* KCMP_FILE */, 0, 0),
		{"pidfd_getfd_pid1", eperm, func() error {
			pfd, err := unix.PidfdOpen(1, 0)
			if err != nil {
				return err
			}
			defer unix.Close(pfd)
			fd, err := unix.PidfdGetfd(pfd, 0, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		// ADDR_NO_RANDOMIZE: Docker allows only a few personalities.
		syscallCheck("personality_no_aslr", eperm, unix.SYS_PERSONALITY, 0x0040000),
	}...)
	return checks
}

var errAllowed = errors.New("allowed")
