package overlay

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Options describes one overlay mount.
type Options struct {
	// Lower are the read-only layers, top-most first (the order of
	// lowerdir=: the leftmost directory is looked up first).
	Lower []string
	// Upper receives the container's writes; Work is overlayfs' scratch
	// directory and must be on the same filesystem as Upper.
	Upper, Work string
	// Target is where the merged view appears.
	Target string
}

// pageSize bounds mount(2)'s data argument: the kernel copies at most one
// page of options, so a long lowerdir list silently breaks the mount.
var pageSize = os.Getpagesize()

// Data renders the mount(2) data string, e.g.
// "lowerdir=/l2:/l1,upperdir=/u,workdir=/w".
func (o Options) Data() (string, error) {
	if len(o.Lower) == 0 {
		return "", errors.New("overlay needs at least one lower layer")
	}
	for _, d := range append(append([]string{}, o.Lower...), o.Upper, o.Work) {
		// ':' separates lowerdirs and ',' separates options: a path with
		// either would be misread by the kernel.
		if strings.ContainsAny(d, ":,") {
			return "", fmt.Errorf("overlay path %q contains ':' or ','", d)
		}
	}
	var data string
	if o.Upper == "" {
		// Read-only overlay: needs at least two lowers, or it is a bind.
		data = "lowerdir=" + strings.Join(o.Lower, ":")
	} else {
		if o.Work == "" {
			return "", errors.New("overlay with an upper dir needs a work dir")
		}
		data = fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(o.Lower, ":"), o.Upper, o.Work)
	}
	if len(data) >= pageSize {
		return "", fmt.Errorf("overlay options are %d bytes, over the kernel's limit of %d: too many layers", len(data), pageSize-1)
	}
	return data, nil
}

// Shell is the mount(8) command a student would type for these options.
func (o Options) Shell() string {
	data, err := o.Data()
	if err != nil {
		data = "lowerdir=…,upperdir=…,workdir=…"
	}
	return fmt.Sprintf("mount -t overlay overlay -o %s %s", data, o.Target)
}
