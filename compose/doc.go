// Package compose is minirun's `docker compose`: it reads a Compose file
// with the Compose Specification's own Go loader (compose-go), then drives
// the rest of minirun to bring the project up — networks first (package
// network: a bridge, nftables rules and a DNS server per network), then
// named volumes, then one container per service (package container: the
// namespaces, cgroups and overlayfs of every `run -d`), in depends_on
// order.
//
// Compose has no kernel feature of its own, and that is the lesson: it is a
// client that turns one YAML file into the same calls a person would type
// by hand (`network create`, `volume create`, `run -d --network … --name …`),
// and it finds its objects again only by their names and labels:
//
//	containers  PROJECT-SERVICE-1, labelled com.docker.compose.project=PROJECT,
//	            com.docker.compose.service=SERVICE, …container-number=1
//	networks    PROJECT_NETWORK (PROJECT_default when the file names none)
//	volumes     PROJECT_VOLUME
//
// Nothing is remembered anywhere else, as in Docker Compose v2: `compose
// down` in another terminal finds the project by those labels and names.
//
// Order matters, and the package keeps Compose's: everything that can be
// checked is checked before anything is created (every key of the file is
// one minirun implements, every port parses, every image is here, pullable
// or buildable), so a bad file starts nothing. Then networks, volumes and
// containers are created in that order, and `down` removes them in reverse.
//
// Specification: https://compose-spec.io (the "services", "networks" and
// "volumes" top-level elements). The course page is docs/compose.md.
package compose
