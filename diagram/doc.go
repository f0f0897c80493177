// Package diagram draws what a container is made of, from what the kernel
// says about it right now: the projector view of `minirun explain --web`
// and `--svg` (issue #17).
//
// It works in three stages, each testable on its own:
//
//  1. Probe reads the host, without changing anything: the namespace links
//     in /proc/PID/ns (namespaces(7)), the overlay line of
//     /proc/self/mountinfo (proc(5), overlayfs.rst), the files of the
//     container's cgroup (cgroups(7): v1 or v2, whichever is mounted), the
//     links and addresses of the host's and of the container's network
//     namespaces (rtnetlink(7)), minirun's nftables table (nft(8)), the
//     processes client → (daemon) → shim → init (/proc/PID/stat, cmdline,
//     fd and /proc/net/unix, proc(5)) and each network's DNS server with
//     the names and aliases it answers (the network's file, which the
//     server itself reads). The result is a State. Every root it reads from is a field, so the unit
//     tests run the same code on recorded files in testdata/.
//  2. Build turns a State into a Diagram: panels of nodes and edges, with
//     nothing drawn yet (a pure function).
//  3. SVG renders a Diagram as one SVG document (encoding/xml escapes every
//     string), sized for a 1280×720 projector.
//
// Diagrams are redrawn from the kernel after every step, never from a
// template of what the step should have done: when a step does not do what
// its text says, the picture shows it.
package diagram
