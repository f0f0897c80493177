// Package lab is the course's lab checker: `minirun lab list` and
// `minirun lab check NAME`. Each lab of docs/labs/ leaves the machine in a
// known state (a network named lab with two containers on it, a container
// with a 128 MiB memory limit, a whiteout in an upper dir...), and its
// Checks look for that state where it really lives — in the kernel, not in
// minirun's own records — and tell the student, in Portuguese and English,
// what is missing and how to get there.
//
// Where each check looks, and the man page that explains it:
//
//   - namespaces: /proc/PID/ns/* links and NSpid in /proc/PID/status
//     (namespaces(7), proc(5)); the hostname seen after setns(2) into the
//     container's UTS namespace (uts_namespaces(7));
//   - cgroups: /proc/PID/cgroup, then the control files of the container's
//     group under /sys/fs/cgroup, v1 or v2 (cgroups(7));
//   - overlay: the upper and lower directories of the container's overlay
//     mount, whiteouts being 0/0 character devices (the kernel's
//     Documentation/filesystems/overlayfs.rst);
//   - network and dns-rr: DNS questions asked to the network's server from
//     inside a container's network namespace with github.com/miekg/dns, then a
//     TCP connection (network_namespaces(7), setns(2), RFC 1035);
//   - volumes: /proc/PID/mountinfo of each container (proc(5));
//   - security: CapEff, CapBnd, NoNewPrivs and Seccomp in /proc/PID/status
//     (capabilities(7), prctl(2) PR_SET_NO_NEW_PRIVS, seccomp(2));
//   - compose: HTTP on the published port 5000.
//
// The checks only read: they change nothing on the host or in a container.
// guide.go parses the lab pages, so the integration tests run exactly the
// commands a student reads.
package lab
