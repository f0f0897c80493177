package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// parseExplain runs `minirun ARGS` with explain's action replaced, and
// returns what the action saw.
func parseExplain(t *testing.T, args ...string) (web bool, addr, chapter string) {
	t.Helper()
	app := newApp()
	saved := explainCommand.Action
	t.Cleanup(func() { explainCommand.Action = saved })
	explainCommand.Action = func(c *cli.Context) error {
		web, addr, chapter = c.Bool("web"), c.String("web-addr"), c.Args().First()
		return nil
	}
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	full, err := prepareArgs(app, append([]string{"minirun"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Run(full); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return
}

func TestWebTakesAnOptionalAddress(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		addr, chapter string
	}{
		{[]string{"explain", "network", "--pause", "--web"}, "", "network"},
		{[]string{"explain", "--pause", "--web", "network"}, "", "network"},
		{[]string{"explain", "--pause", "--web", "127.0.0.1:9090", "network"}, "127.0.0.1:9090", "network"},
		{[]string{"explain", "rootfs", "--web", ":8081"}, ":8081", "rootfs"},
		{[]string{"explain", "--web=[::1]:8080", "cgroups"}, "[::1]:8080", "cgroups"},
	} {
		web, addr, ch := parseExplain(t, tc.args...)
		if !web || addr != tc.addr || ch != tc.chapter {
			t.Errorf("%q: web=%v addr=%q chapter=%q, want addr %q chapter %q", tc.args, web, addr, ch, tc.addr, tc.chapter)
		}
	}
}

func runApp(t *testing.T, args ...string) error {
	t.Helper()
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	full, err := prepareArgs(app, append([]string{"minirun"}, args...))
	if err != nil {
		return err
	}
	return app.Run(full)
}

func TestWebRefusesAPublicAddressUnlessAsked(t *testing.T) {
	err := runApp(t, "explain", "--dry-run", "--web", "192.0.2.1:8080", "network")
	if err == nil || !strings.Contains(err.Error(), "--web-public") {
		t.Fatalf("err = %v, want a refusal naming --web-public", err)
	}
	if err := runApp(t, "explain", "--dry-run", "--web-public", "network"); err == nil {
		t.Fatal("--web-public without --web accepted")
	}
}

// A dry run draws the host as it is (nothing made: empty panels), one
// valid SVG file per step narrated.
func TestExplainSVGWritesOneFilePerStep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svg")
	stdout := os.Stdout
	null, _ := os.Open(os.DevNull)
	os.Stdout = null
	defer func() { os.Stdout = stdout; null.Close() }()
	err := runApp(t, "--root", t.TempDir(), "--data-root", t.TempDir(), "explain", "--dry-run", "--lang", "en", "--svg", dir, "rootfs")
	os.Stdout = stdout
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	if len(files) < 3 {
		t.Fatalf("%d SVG files for the rootfs chapter", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(b, new(struct{})); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !strings.Contains(string(b), "rootfs not mounted yet") || !strings.Contains(string(b), "] rootfs: ") {
			t.Errorf("%s does not show the step and the empty rootfs", f)
		}
	}
}
