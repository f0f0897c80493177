// Package selftest proves that the test VM of tests/vm/run.sh is the machine
// minirun's cgroup v2 code needs: a pure cgroup2 hierarchy (cgroups(7),
// "Cgroups version 2"), working memory and pids limits, overlayfs and the
// network modules loaded (overlayfs docs, Documentation/filesystems/overlayfs),
// pivot_root(2) allowed, and orphans reaped by PID 1.
//
// The tests skip everywhere except inside that VM (MINIRUN_VM=1, set by its
// /init), because on a hybrid-layout host they would check the wrong machine.
// tests/vm/selftest.sh builds them with `go test -c` and boots them.
package selftest
