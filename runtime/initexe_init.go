//go:build minirun_init

package runtime

import "embed"

// initFS is empty in minirun-init itself (the build tag minirun_init):
// an init starts no other init, and it must not carry the previous build
// of itself, embedded, in every new one.
var initFS embed.FS
