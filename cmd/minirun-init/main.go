// Command minirun-init is the program a container's init runs: it sets up
// the namespaces' view (mounts, pivot_root, devices, capabilities,
// seccomp) and execs the user's program. scripts/build.sh builds it and
// embeds it in minirun, which extracts it into the state root and runs it
// through a read-only mount (runtime/selfexe.go, CVE-2019-5736); nobody
// starts it by hand.
//
// It is minirun's own init code (runtime.Init), linked without the CLI,
// the daemon, compose or the image store: ~180 packages instead of ~450,
// whose initialisers Go runs before main in every process. It starts in
// ~8 ms here instead of ~18, on the path every `run` waits on.
package main

import (
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/minirun/minirun/runtime"
)

// init locks the main goroutine to the main thread before main runs, for
// the reason cmd/minirun's init gives: what the init sets up (the cgroup
// namespace, capabilities, PR_SET_KEEPCAPS) belongs to one thread, the one
// that calls execve.
func init() {
	goruntime.LockOSThread()
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != runtime.InitArg {
		fmt.Fprintln(os.Stderr, "minirun-init: the init of minirun's containers; minirun starts it, not a user")
		os.Exit(2)
	}
	runtime.Init() // never returns
}
