// Package plugins finds and talks to Docker-style out-of-process plugins:
// programs that serve a small JSON-over-HTTP protocol on a unix socket (or
// a TCP address), discovered by name the way Docker's pkg/plugins does.
//
// Discovery (see https://docs.docker.com/engine/extend/plugin_api/):
//
//	/run/docker/plugins/NAME.sock            a socket (or NAME/NAME.sock)
//	/etc/docker/plugins/NAME.spec            a file holding a URL: unix:///path or tcp://host:port
//	/etc/docker/plugins/NAME.json            {"Name": …, "Addr": "unix://…|tcp://…"}
//	/usr/lib/docker/plugins/NAME.{spec,json} the same, for packaged plugins
//
// Sockets are looked for first, then spec files, in that order of
// directories, as Docker does. MINIRUN_PLUGIN_SOCKETS (one directory) and
// MINIRUN_PLUGIN_SPECS (a colon-separated list) replace the defaults, so
// tests and labs never write under /run/docker, /etc or /usr/lib.
//
// Every call is an HTTP POST of JSON with the Accept header
// application/vnd.docker.plugins.v1.2+json. The first call is always
// /Plugin.Activate, whose answer {"Implements": ["VolumeDriver"]} says
// which protocols the plugin speaks. The volume protocol
// (/VolumeDriver.*) is in volume.go.
package plugins
