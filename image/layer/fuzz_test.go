package layer

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

// FuzzExtract asserts the one property that matters most: whatever the
// archive, nothing outside the target directory is created, removed,
// written, chmod-ed or touched.
//
// Fuzzing raw tar bytes mostly produces bad checksums, so the input is a
// small script, one entry per line, "TYPE NAME [ARG]":
//
//	d NAME         directory          f NAME TEXT   regular file
//	l NAME TARGET  symlink            h NAME TARGET hard link
//	p NAME         fifo               x NAME VALUE  file with a user xattr
//
// "@S@" in a name or target becomes the absolute path of the sentinel
// directory beside the target, "@R@" that of the target itself, so the
// fuzzer can aim absolute names and symlinks at the sentinel.
//
// Run it with: go test -run '^$' -fuzz FuzzExtract ./image/layer/
func FuzzExtract(f *testing.F) {
	seeds := []string{
		"d etc\nf etc/passwd root:x:0:0\nl bin/sh busybox\nh bin/ls bin/sh",
		"f ../sentinel/evil x",
		"f @S@/evil x",
		"l link ../sentinel\nf link/evil x",
		"l link @S@\nd link/sub\nf link/sub/evil x",
		"l link /\nf link@S@/evil x",
		"l a b\nd c\nl b c/../..\nf a/sentinel/evil x",
		"l link ../sentinel\nf link/.wh.secret",
		"l link ../sentinel\nf link/.wh..wh..opq",
		"h h ../sentinel/secret",
		"l s ../sentinel/secret\nh h s\nf h x",
		"l s @S@/secret\nf s overwritten",
		"d a\nf a/.wh..wh..opq\nf .wh.a\nd a",
		"d ro\nf ro/x y\nl ro ../sentinel\nd ro",
		"p fifo\nl fifo ../sentinel",
		"x f ../../sentinel\nl f @S@",
		"l @R@ .\nf @R@/x y",
		"f ./.wh..\nf .wh.",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		base, root, sentinel := sandbox(t)
		archive, ok := scriptTar(script, sentinel, root)
		if !ok {
			return
		}
		before := snapshot(t, base, root)
		Extract(archive, root) // success or failure: both must stay inside
		diffSnap(t, before, snapshot(t, base, root))
	})
}

// scriptTar builds the archive a fuzz script describes; ok is false when
// the script cannot be encoded (tar.Writer refuses a header).
func scriptTar(script, sentinel, root string) (*bytes.Buffer, bool) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	lines := strings.Split(script, "\n")
	if len(lines) > 64 {
		lines = lines[:64] // keep each run short
	}
	for _, line := range lines {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 2 {
			continue
		}
		expand := func(s string) string {
			s = strings.ReplaceAll(s, "@S@", sentinel)
			return strings.ReplaceAll(s, "@R@", root)
		}
		name, arg := expand(fields[1]), ""
		if len(fields) == 3 {
			arg = expand(fields[2])
		}
		h := &tar.Header{Name: name, Mode: 0o755, ModTime: testTime, Format: tar.FormatPAX}
		body := ""
		switch fields[0] {
		case "d":
			h.Typeflag = tar.TypeDir
		case "f":
			h.Typeflag, body = tar.TypeReg, arg
		case "x":
			h.Typeflag = tar.TypeReg
			h.PAXRecords = map[string]string{"SCHILY.xattr.user.fuzz": arg}
		case "l":
			h.Typeflag, h.Linkname = tar.TypeSymlink, arg
		case "h":
			h.Typeflag, h.Linkname = tar.TypeLink, arg
		case "p":
			h.Typeflag = tar.TypeFifo
		default:
			continue
		}
		h.Size = int64(len(body))
		if tw.WriteHeader(h) != nil {
			return nil, false
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, false
		}
	}
	if tw.Close() != nil {
		return nil, false
	}
	return &buf, true
}
