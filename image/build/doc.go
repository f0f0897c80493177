// Package build builds images from a Dockerfile, the way Docker's classic
// builder does (`docker build` before BuildKit): one instruction at a
// time, each giving a new image that is its parent plus one change.
//
//   - FROM picks the first parent: an image of the store, one pulled for
//     the occasion, or scratch (nothing).
//   - RUN starts a container whose root is an overlayfs mount of the
//     parent's layers (read-only lowerdirs) and a fresh, empty upperdir.
//     Whatever the command writes, changes or deletes lands in that upper
//     directory — deletions as overlayfs whiteouts — and the directory,
//     turned into a tar (whiteouts back into ".wh." entries), is the new
//     layer. The container itself is the job of a Runner, which the
//     container manager provides: this package only needs "run this
//     command on these layers, writing there".
//   - COPY and ADD write the new layer's tar directly from the build
//     context, with the owners --chown asks for.
//   - ENV, ARG, WORKDIR, USER, CMD, ENTRYPOINT, EXPOSE, LABEL, VOLUME,
//     SHELL, STOPSIGNAL change only the config: the new image has the same
//     layers and an "empty_layer" history entry.
//
// Every step's image is kept (untagged, with its parent recorded), and
// that is the build cache: before running an instruction, the builder
// looks for an image already built on the same parent by the same
// instruction — for COPY and ADD, the same instruction over files with the
// same content hash — and reuses it ("Using cache").
//
// The Dockerfile is parsed by BuildKit's own parser
// (github.com/moby/buildkit/frontend/dockerfile/parser and instructions),
// variables are expanded by its shell lexer, and .dockerignore is read by
// moby/patternmatcher, so the syntax is exactly Docker's.
//
// References: the Dockerfile reference (docs.docker.com/reference/dockerfile),
// OCI image-spec config.md ("history", "empty_layer"), overlayfs in the
// kernel documentation (Documentation/filesystems/overlayfs.rst).
package build
