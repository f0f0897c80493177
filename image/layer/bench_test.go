package layer

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchArchive is a layer shaped like a small distribution: many small
// files in a few directories, plus some large ones (about 18 MiB in all).
func benchArchive(b *testing.B) []byte {
	var entries []entry
	small := string(bytes.Repeat([]byte("s"), 4<<10))
	big := string(bytes.Repeat([]byte("B"), 1<<20))
	for d := 0; d < 20; d++ {
		dir := fmt.Sprintf("usr/lib/pkg%02d/", d)
		entries = append(entries, dirE(dir, 0o755))
		for f := 0; f < 100; f++ {
			entries = append(entries, fileE(fmt.Sprintf("%sfile%03d", dir, f), small, 0o644))
			if f%25 == 0 {
				entries = append(entries, symlinkE(fmt.Sprintf("%slink%03d", dir, f), fmt.Sprintf("file%03d", f)))
			}
		}
	}
	for i := 0; i < 10; i++ {
		entries = append(entries, fileE(fmt.Sprintf("usr/bin/big%d", i), big, 0o755))
	}
	return mkTar(b, entries...).Bytes()
}

// BenchmarkExtract compares Extract with GNU tar on the same archive:
//
//	go test -run '^$' -bench Extract ./image/layer/
func BenchmarkExtract(b *testing.B) {
	archive := benchArchive(b)
	tarFile := filepath.Join(b.TempDir(), "layer.tar")
	if err := os.WriteFile(tarFile, archive, 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, extract func(dir string) error) {
		b.SetBytes(int64(len(archive)))
		base := b.TempDir()
		for i := 0; b.Loop(); i++ {
			dir := filepath.Join(base, fmt.Sprint(i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := extract(dir); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	}
	b.Run("minirun", func(b *testing.B) {
		run(b, func(dir string) error {
			f, err := os.Open(tarFile)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = Extract(f, dir)
			return err
		})
	})
	// With the tar-split record the store keeps (gzip'd, as it does).
	b.Run("minirun-recorded", func(b *testing.B) {
		run(b, func(dir string) error {
			f, err := os.Open(tarFile)
			if err != nil {
				return err
			}
			defer f.Close()
			zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
			if _, err = ExtractRecorded(f, dir, zw); err != nil {
				return err
			}
			return zw.Close()
		})
	})
	b.Run("gnu-tar", func(b *testing.B) {
		if _, err := exec.LookPath("tar"); err != nil {
			b.Skip("no tar")
		}
		run(b, func(dir string) error {
			out, err := exec.Command("tar", "-C", dir, "--numeric-owner", "--xattrs", "-xpf", tarFile).CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar: %v: %s", err, out)
			}
			return nil
		})
	})
}
