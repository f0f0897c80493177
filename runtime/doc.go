// Package runtime is minirun's "runc": it creates, starts, signals and
// deletes containers described by an OCI runtime bundle (a directory with a
// config.json and a root filesystem), following the lifecycle of the OCI
// runtime specification (runtime.md, "Lifecycle").
//
// The lifecycle, in the order a student sees it:
//
//	create: validate config.json → mkdir the state dir → mkfifo exec.fifo →
//	        socketpair → re-execute /proc/self/exe as "init" with the clone
//	        flags of the new namespaces → place it in its cgroups → send it the
//	        config → it sets up mounts, pivot_root, hostname… and reports ready
//	        → save state.json (created) → return. The init now blocks opening
//	        exec.fifo for writing.
//	start:  open exec.fifo for reading, which releases the init; it execve()s
//	        the user's program, which becomes PID 1 of the container.
//	state:  read state.json, then ask the kernel: the pid must be alive with
//	        the same start time, or the container is stopped.
//	kill:   send a signal to the container's init.
//	delete: run poststop hooks, remove cgroups and the state dir.
//
// Both sides live in this package: container.go and process.go run in the
// CLI (the parent), init.go and mounts.go run in the container's init (the
// child, inside the new namespaces). sync.go draws the protocol between them.
// See namespaces(7), pivot_root(2), mount_namespaces(7).
package runtime
