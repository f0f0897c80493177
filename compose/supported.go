package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/tree"
)

// supported are the parts of the Compose Specification minirun implements,
// as attribute paths of the schema ("*" any key, "[]" any list item). A
// path covers everything under it, unless it starts with "=": then the key
// is accepted but nothing under it. docs/compose.md#suportado lists the
// same keys for students: keep the two in step.
//
// The check is an allowlist on purpose (fail closed): a key the
// specification gains tomorrow is refused until someone implements it,
// instead of being ignored.
var supported = []string{
	// `version:` is obsolete in the specification; the loader warns about
	// it and drops it before this check, as Docker Compose does.
	"name",

	"services.*.image",
	"services.*.build.context",
	"services.*.build.dockerfile",
	"services.*.build.args",
	"services.*.command",
	"services.*.entrypoint",
	"services.*.environment",
	"services.*.env_file",
	"services.*.working_dir",
	"services.*.user",
	"services.*.hostname",
	"services.*.container_name",
	"services.*.labels",
	"services.*.restart",
	// The loader writes every port in its long form, adding protocol: tcp
	// and mode: ingress (which is all a single host has).
	"services.*.ports.[].target",
	"services.*.ports.[].published",
	"services.*.ports.[].host_ip",
	"services.*.ports.[].protocol",
	"services.*.ports.[].mode",
	// Short volume syntax becomes type/source/target/read_only, and a
	// bind gets bind.create_host_path: true (Docker's -v creates a missing
	// host directory too).
	"services.*.volumes.[].type",
	"services.*.volumes.[].source",
	"services.*.volumes.[].target",
	"services.*.volumes.[].read_only",
	"services.*.volumes.[].bind.create_host_path",
	// NAME:/path gets an empty volume: {} (no nocopy, no subpath).
	"=services.*.volumes.[].volume",
	"services.*.networks.*.aliases",
	"services.*.depends_on.*.condition",
	"services.*.depends_on.*.required",
	"services.*.healthcheck.test",
	"services.*.healthcheck.interval",
	"services.*.healthcheck.timeout",
	"services.*.healthcheck.retries",
	"services.*.healthcheck.start_period",
	"services.*.healthcheck.start_interval",
	"services.*.healthcheck.disable",

	"networks.*.name",
	"networks.*.driver",
	"networks.*.driver_opts",
	"networks.*.external",
	"networks.*.internal",
	"networks.*.ipam.config.[].subnet",
	"networks.*.ipam.config.[].gateway",

	"volumes.*.name",
	"volumes.*.driver",
	"volumes.*.driver_opts",
	"volumes.*.external",
}

// supportedAttributes expands supported into the schema's own paths: each
// entry and every schema path under it. Building from the schema (rather
// than listing paths by hand) keeps the nested shapes exact: environment
// as a list or a map, a network given as a list or a map, and so on.
func supportedAttributes() []tree.Path {
	var out []tree.Path
	for _, p := range schema.AttributePaths() {
		s := string(p)
		for _, want := range supported {
			exact, ok := strings.CutPrefix(want, "=")
			if s == exact || (!ok && strings.HasPrefix(s, want+".")) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
