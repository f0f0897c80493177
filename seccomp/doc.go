// Package seccomp compiles OCI seccomp profiles to classic BPF and installs
// them with the seccomp(2) system call — in pure Go, without libseccomp, so
// minirun stays one static binary. See seccomp(2) and
// https://man7.org/linux/man-pages/man2/seccomp.2.html; the kernel's side is
// Documentation/userspace-api/seccomp_filter.rst.
//
// # What a filter is
//
// A seccomp filter is a classic BPF program the kernel runs on every
// system call of the process, before the call does anything. Its input is
// struct seccomp_data (the syscall number, the ABI as an AUDIT_ARCH_* value,
// the instruction pointer and the six arguments as 64-bit words); its output
// is an action: ALLOW, ERRNO(n), KILL_THREAD, KILL_PROCESS, TRAP, TRACE, LOG
// or USER_NOTIF. The program cannot loop and cannot follow pointers, so it
// can look at flags passed by value (clone's) but not at a path.
//
// Compile builds the program (compile.go explains its shape: an
// architecture check, then a binary search over syscall numbers); Load
// installs it; DefaultProfile and LoadProfileFile give Docker's profiles.
//
// # Semantics
//
// An OCI profile lists rules (syscall names, an action, optional argument
// comparisons) and a default action. minirun decides a call as runc on top
// of libseccomp does, for every profile where the two can be compared:
//
//   - A call from an ABI the profile does not list (i386 or x32 when only
//     x86_64 is listed) is killed: libseccomp's default "bad arch" action,
//     KILL_THREAD. The x86_64 ABI is always in.
//   - Rules whose action is the default action are dropped (libseccomp
//     rejects them, runc skips them).
//   - Comparisons in one rule must all hold (AND). If a rule compares the
//     same argument more than once, it becomes one rule per comparison (OR),
//     as runc does (opencontainers/runc#2735).
//   - A rule without comparisons decides its syscall outright; argument rules
//     for that syscall are ignored, as libseccomp does.
//   - Otherwise the rules for a syscall are tried in profile order and the
//     first that matches decides; no match means the default action.
//     libseccomp merges overlapping argument rules with different actions
//     into a tree whose outcome is hard to predict; Docker's profiles never
//     do that, and "first match" is the rule a reader can check by eye.
//   - Comparisons are unsigned and 64-bit on x86_64; on the 32-bit ABIs
//     (i386, x32) only the low 32 bits count, as in libseccomp.
//     SCMP_CMP_MASKED_EQ is (arg & value) == (valueTwo & value).
//   - A syscall name an ABI does not know is skipped for that ABI, as runc
//     does: profiles name syscalls of every architecture and of kernels newer
//     than the tables. Such a call then gets the default action. Multiplexed
//     calls (socketcall, ipc on i386) are plain syscalls here, as in Docker.
//   - SCMP_ACT_ERRNO without errnoRet returns EPERM.
//
// # Order in the container's init
//
// Installing the filter needs no_new_privs or CAP_SYS_ADMIN. runc's
// standard_init_linux.go does: if noNewPrivileges is false, load the filter
// while the process still has CAP_SYS_ADMIN, before dropping capabilities
// and changing user; if it is true, set no_new_privs and load the filter as
// the very last step before execve. Either way it is as late as possible:
// every syscall after Load is filtered, and the runtime's own setup (mount,
// pivot_root, sethostname, capset…) would otherwise be refused by the very
// profile it is installing. Only the few calls between Load and execve (and
// execve itself) must be allowed by the profile.
package seccomp
