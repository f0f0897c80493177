// Package crashpoint lets the tests kill minirun at a named point of a
// multi-step operation, the way a power cut, the OOM killer or an impatient
// `kill -9` would, so that what such a crash leaves behind can be tested
// deterministically instead of with random sleeps.
//
// It is test-only in effect: nothing happens unless the environment
// variable MINIRUN_TEST_CRASH_AT names the point. Then the process sends
// itself SIGKILL there (kill(2)): no deferred function, no rollback, no
// signal handler runs, exactly as with a real SIGKILL.
//
// The points, in the order each command reaches them:
//
//	create-after-state-dir   runtime.Create: the state dir exists, state.json not yet
//	create-after-creating    runtime.Create: state.json says "creating", no cgroup yet
//	create-after-cgroup      runtime.Create: the init runs in its cgroup, before "created" is saved
//	reserve-after-mkdir      container reserve (run): the container's directory exists, meta.json not yet
//	run-after-reserve        container prepare (run): meta.json saved, before the rootfs is mounted
//	run-after-rootfs         container prepare (run): the rootfs is mounted, the bundle not written
//	run-after-bundle         container prepare (run): the bundle is written, before the shim starts
//	attach-after-veth        network attach (the shim, run): the veth pair is made, both ends still on the host
//	rm-after-tombstone       container remove (rm): the directory is the tombstone .rm-<id>-<pid>, nothing torn down yet
package crashpoint

import (
	"os"

	"golang.org/x/sys/unix"
)

// Env is the environment variable that names the point to crash at.
const Env = "MINIRUN_TEST_CRASH_AT"

// At kills the calling process with SIGKILL when Env names point; it
// returns at once otherwise.
func At(point string) {
	if os.Getenv(Env) != point {
		return
	}
	unix.Kill(os.Getpid(), unix.SIGKILL) //minirun:nostep the crash tests' hook kills minirun itself, only when MINIRUN_CRASH names this point
	// SIGKILL is delivered before kill(2) returns to a process that
	// signals itself (signal(7)); this only waits if it were not.
	select {}
}
