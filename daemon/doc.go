// Package daemon serves Docker's Engine API (the REST API dockerd answers,
// https://docs.docker.com/reference/api/engine/) on a unix socket, so the
// real `docker` client drives minirun: `DOCKER_HOST=unix:///run/minirun/docker.sock
// docker run --rm busybox echo hi`.
//
// The daemon is a thin shell, as the CLI is: every endpoint decodes the
// request into the types of github.com/moby/moby/api (Docker's own), calls
// the same package the CLI calls (container.Manager, image.Store,
// network.Manager, volume.Store) and encodes the answer in those types
// again. No JSON shape is written by hand here, so what the client reads is
// what dockerd would send.
//
// Containers are not children of the daemon: each one has its shim
// (package shim), started in a session of its own, exactly as `minirun run
// -d` starts it. The daemon keeps nothing the disk does not: killing it
// leaves every container running, and a new daemon finds them by their
// records and shims.
//
// The order of a `docker run` without -d, as the client sends it
// (docker/cli's container/run.go):
//
//	POST /containers/create        Manager.Create: image, name, rootfs, bundle
//	POST /containers/{id}/attach   hijacked; held here until start (pending)
//	POST /containers/{id}/wait     condition=next-exit (removed with --rm)
//	POST /containers/{id}/start    Manager.Start(attachFirst): the shim holds
//	                               the container until the pending attach
//	                               has connected, so no output is lost
//	… output streams; the shim's exit frame ends the attach and the wait
package daemon
