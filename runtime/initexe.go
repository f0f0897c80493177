//go:build !minirun_init

package runtime

import "embed"

// initFS holds what scripts/build.sh put in initbin/ before it built
// minirun: minirun-init, the program the containers' init runs (see
// embeddedInit). A plain `go build` finds only the README there.
//
//go:embed initbin
var initFS embed.FS
