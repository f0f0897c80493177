// Package cgroups puts a container's processes in a control group and makes
// the kernel enforce the limits of the OCI config's linux.resources:
// memory, CPU time and placement, number of tasks, block I/O, devices, and
// freezing. See cgroups(7) (https://man7.org/linux/man-pages/man7/cgroups.7.html)
// and the kernel's Documentation/admin-guide/cgroup-v1/ and cgroup-v2.rst.
//
// A cgroup is a directory in a special filesystem (cgroupfs). Creating the
// directory creates the group; the kernel fills it with control files;
// writing a pid to its cgroup.procs moves that process (and every child it
// forks later) into the group; writing to the other files sets limits that
// the kernel enforces from then on. Removing the directory (rmdir, never
// rm -r) destroys the group once it holds no process. That is the whole
// interface: there is no cgroup syscall, and this package does nothing that
// a student could not do by hand with mkdir, echo and rmdir (each step's
// Shell says how).
//
// The kernel offers two interfaces, and a machine runs in one of three
// layouts (see Mode and DetectMode):
//
//   - cgroup v1 (legacy): one hierarchy per controller, each mounted at
//     /sys/fs/cgroup/<controller>, so a container is one directory in each
//     (memory/minirun/<id>, pids/minirun/<id>, ...). Files carry the
//     controller's name: memory.limit_in_bytes, cpu.cfs_quota_us.
//   - hybrid: the v1 hierarchies plus an (often empty) cgroup2 mount at
//     /sys/fs/cgroup/unified that systemd uses for bookkeeping. minirun
//     treats it as v1: the controllers live on the v1 side.
//   - cgroup v2 (unified): one tree at /sys/fs/cgroup with every
//     controller; a container is one directory. Controllers must be enabled
//     top-down through cgroup.subtree_control, files have new names
//     (memory.max, cpu.max, pids.max) and devices are policed by an eBPF
//     program instead of devices.allow/deny.
//
// The code is split the way containerd/cgroups and opencontainers/cgroups
// split it: Plan (resources.go and one file per controller) turns the OCI
// resources into an ordered list of (file, value) writes without touching
// the host, so it is tested as a pure function; v1.go and v2.go are the two
// Managers that create the directories and apply those writes. Every change
// to the host goes through an explain.Tracer step, so `minirun explain
// cgroups` narrates exactly what the code does.
//
// Where a container's cgroup goes: see New. minirun keeps everything it
// creates under a "minirun" directory at the top of each hierarchy, so
// `ls /sys/fs/cgroup/memory/minirun` (v1) or `ls /sys/fs/cgroup/minirun`
// (v2) shows every container's group and nothing else is touched.
package cgroups
