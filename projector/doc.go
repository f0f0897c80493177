// Package projector is the projector view of `minirun explain --web` and
// `--svg` (issue #17): beside the terminal, a page that follows the live
// narration, one step at a time, with a diagram of the container redrawn
// from the kernel's state after every step (package diagram).
//
// The page is embedded in the binary (assets/, Go's embed: no build chain,
// nothing fetched from elsewhere) and is updated by Server-Sent Events
// (the HTML Living Standard, "Server-sent events"): one "step" event when
// a step begins, another when it ended, with its evidence and the new
// diagram. The class advances with the page's Next button, the space key,
// or Enter in the terminal, whichever comes first.
//
// The server listens on loopback unless told otherwise (the page shows
// pids, paths and addresses of the host) and lives only as long as the
// narration: Close ends it.
package projector
