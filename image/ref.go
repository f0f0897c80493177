package image

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// DefaultTag is the tag a reference without one gets, as in Docker.
const DefaultTag = "latest"

// Ref is a parsed image reference: a repository name and a tag.
type Ref struct {
	// Name is the repository, e.g. "busybox" or "localhost:5000/team/app".
	Name string
	// Tag is the tag, DefaultTag when the reference had none.
	Tag string
}

// String returns the reference as "name:tag", the form kept in
// repositories.json.
func (r Ref) String() string { return r.Name + ":" + r.Tag }

// The grammar of Docker references (distribution/reference's regexp.go),
// reduced to what a local store needs. Each is compiled on first use, not
// at package init: every minirun process runs every package's initialiser,
// and the shim, which stays for the container's whole life, never parses
// a reference.
var (
	// A path component: lower-case letters and digits, separated by one
	// period, one or two underscores, or any number of dashes.
	pathComponentRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`) })
	// A registry host, with an optional port: "localhost:5000", "ghcr.io".
	domainRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$`)
	})
	tagRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })
	// 64 hex digits: refused as a name, since it would read as an image ID.
	fullHexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-f0-9]{64}$`) })
)

// maxNameLen is Docker's limit on a repository name.
const maxNameLen = 255

// ParseRef parses "name[:tag]" and checks it against Docker's rules: path
// components in lower case, made of letters, digits and single separators;
// no leading, trailing or doubled "/"; an optional registry host first;
// a tag of at most 128 characters. Errors are one line, naming the
// reference and the broken rule.
func ParseRef(s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("invalid reference %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.Contains(s, "@") {
		return bad("digest references (name@sha256:...) are not supported")
	}
	name, tag := s, DefaultTag
	// The tag is after the last ":" that follows the last "/": in
	// "localhost:5000/app" the ":" belongs to the registry's port.
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		name, tag = s[:i], s[i+1:]
		if !tagRE().MatchString(tag) {
			return bad("a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
		}
	}
	if len(name) > maxNameLen {
		return bad(fmt.Sprintf("name longer than %d characters", maxNameLen))
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return bad("a name must not start or end with '/' nor contain '//'")
	}
	parts := strings.Split(name, "/")
	// Like Docker: the first component is a registry host when it looks
	// like one (has a "." or a ":", or is "localhost") and more follow.
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !domainRE().MatchString(parts[0]) {
			return bad(fmt.Sprintf("%q is not a valid registry host", parts[0]))
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if strings.ToLower(p) != p {
			return bad("repository name must be lowercase")
		}
		if !pathComponentRE().MatchString(p) {
			return bad(fmt.Sprintf("%q: name components are lower-case letters and digits, joined by '.', '_', '__' or '-'", p))
		}
	}
	if fullHexRE().MatchString(name) {
		return bad("a 64-digit hex name would be mistaken for an image ID")
	}
	return Ref{Name: name, Tag: tag}, nil
}
