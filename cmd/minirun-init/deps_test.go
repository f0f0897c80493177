package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInitLinksLittle keeps minirun-init small: every package it links
// runs its initialiser in every container's init, before main. It fails
// when the init links one of minirun's heavy parts (the CLI, the daemon,
// images, networks, compose, etcd's gRPC client), or more than half as
// many packages as minirun: then the embedded init would start about as
// slowly as minirun itself and have no reason to exist.
func TestInitLinksLittle(t *testing.T) {
	deps := func(tags, pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", "-tags", tags, pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	initDeps := deps("minirun_init", ".")
	all := deps("urfave_cli_no_docs", "../minirun")
	heavy := []string{
		"github.com/urfave/cli",
		"github.com/minirun/minirun/daemon",
		"github.com/minirun/minirun/image",
		"github.com/minirun/minirun/network",
		"github.com/minirun/minirun/container",
		"github.com/compose-spec/compose-go",
		"github.com/google/go-containerregistry",
		"go.etcd.io/etcd",
		"google.golang.org/grpc",
		"google.golang.org/protobuf",
	}
	for _, d := range initDeps {
		for _, h := range heavy {
			if d == h || strings.HasPrefix(d, h+"/") {
				t.Errorf("minirun-init links %s", d)
			}
		}
	}
	if len(initDeps)*2 > len(all) {
		t.Errorf("minirun-init links %d packages, minirun %d: more than half", len(initDeps), len(all))
	}
	t.Logf("minirun-init links %d packages, minirun %d", len(initDeps), len(all))
}
