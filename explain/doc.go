// Package explain is minirun's step tracer: the spine of `minirun explain`.
//
// Every operation that changes the host or the container (the clone and its
// namespace flags, each mount, pivot_root, sethostname, each cgroup write, each
// netlink call, each firewall rule) is described by a Step and executed through
// a Tracer. The Step carries what a student needs to understand it: a stable
// id, the chapter it belongs to, the anchor in docs/ that explains it, a title
// and a one-line reason in Portuguese (the course's language) and English, and
// the shell command that does the same thing by hand.
//
// Because the real code path runs through the tracer, the narration cannot
// drift from what minirun does: there is no separate demo script. The same
// Plan is executed by `create`, printed by `--dry-run`, and paused on by
// `--pause` (the moby libnetwork bridge driver's queueStep idea).
//
// Steps may run in two processes: the CLI (parent) and the container's init
// (child, inside the new namespaces). The child's tracer forwards each step
// over the sync socket to the parent's Sink, so one narration shows both, in
// the order they happen (see runtime/sync.go).
package explain
