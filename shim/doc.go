// Package shim is minirun's containerd-shim: one small process per detached
// container that outlives the `minirun` command which started it.
//
// In Docker, runc creates the container and exits; something must still
// hold the container's stdin/stdout/stderr, write its logs, wait(2) for its
// init (a process can only be reaped by its parent) and record how it
// ended. That is the shim. minirun's shim is the minirun binary itself,
// started as `minirun shim ID` in a session of its own (setsid(2)), so a
// closed terminal or an exited CLI does not take it down:
//
//	minirun run -d ──spawn──▶ minirun shim ID ──create/start──▶ container init
//	     (exits)                 │  holds stdio, writes ID-json.log,
//	                             │  serves attach and control (kill,
//	                             │  wait, state) on a unix socket,
//	                             │  reaps the init, applies --restart,
//	                             └─ records exit code and finish time, exits
//
// The container's init gets SIGKILL as its parent-death signal
// (PR_SET_PDEATHSIG): if the shim is killed, the container dies with it
// instead of running on unsupervised; `ps -a` then shows it exited.
package shim
