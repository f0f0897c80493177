package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/minirun/minirun/cgroups"
	"github.com/minirun/minirun/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// infoCommand is `docker info`'s counterpart: what this kernel offers and
// what minirun uses, including the defences it cannot use here, said
// plainly rather than skipped in silence.
var infoCommand = &cli.Command{
	Name: "info", Usage: "show what this machine offers minirun (like docker info)",
	Action: func(c *cli.Context) error {
		var u unix.Utsname
		unix.Uname(&u)
		cstr := func(b []byte) string { return strings.TrimRight(string(b), "\x00") }
		fmt.Printf("Versão / Version:        %s (OCI runtime spec %s)\n", version, specs.Version)
		fmt.Printf("Kernel:                  %s %s\n", cstr(u.Sysname[:]), cstr(u.Release[:]))
		fmt.Printf("Cgroups:                 %s\n", cgroupLayout())
		var nss []string
		if ents, err := os.ReadDir("/proc/self/ns"); err == nil {
			for _, e := range ents {
				nss = append(nss, e.Name())
			}
		}
		fmt.Printf("Namespaces:              %s\n", strings.Join(nss, " "))
		userns := "no"
		if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) != "0" {
			userns = "yes (max " + strings.TrimSpace(string(b)) + ")"
		}
		fmt.Printf("User namespaces:         %s\n", userns)
		fmt.Printf("Seccomp:                 %s\n", seccompStatus())
		fmt.Printf("AppArmor:                %s\n", lsmStatus("/sys/module/apparmor/parameters/enabled", "Y", "enabled", "não habilitado neste kernel / not enabled in this kernel: perfis --security-opt apparmor não podem ser aplicados"))
		fmt.Printf("SELinux:                 %s\n", lsmStatus("/sys/fs/selinux/enforce", "", "enabled", "não habilitado neste kernel / not enabled in this kernel: --security-opt label não tem efeito"))
		fmt.Printf("Storage driver:          %s\n", storageDriver())
		fmt.Printf("Default capabilities:    %s\n", strings.Join(runtime.DockerCaps, " "))
		initProg := "o próprio minirun / minirun itself (go build sem / without scripts/build.sh)"
		if build, ok := runtime.EmbeddedInit(); ok {
			initProg = "minirun-init (embutido / embedded, build " + build + ")"
		}
		fmt.Printf("Init:                    %s\n", initProg)
		fmt.Printf("Runtime root (--root):   %s\n", c.String("root"))
		fmt.Printf("Data root (--data-root): %s\n", c.String("data-root"))
		if m, err := openManager(c); err == nil {
			all, _ := m.List()
			running := 0
			for _, ct := range all {
				if ct.State.Status == "running" {
					running++
				}
			}
			imgs, _ := m.Images.List()
			fmt.Printf("Containers:              %d (running %d)\n", len(all), running)
			fmt.Printf("Images:                  %d\n", len(imgs))
		}
		return nil
	},
}

func cgroupLayout() string {
	switch cgroups.DetectMode() {
	case cgroups.Unified:
		return "v2 (unified: one tree at /sys/fs/cgroup)"
	case cgroups.Hybrid:
		return "v1 controllers + empty cgroup2 at /sys/fs/cgroup/unified (hybrid)"
	}
	return "v1 (one hierarchy per controller)"
}

func seccompStatus() string {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil && strings.Contains(string(b), "Seccomp:") {
		return "supported (Docker's default profile, compiled to BPF in Go)"
	}
	return "not supported by this kernel: containers run without a filter"
}

func lsmStatus(path, want, yes, no string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return no
	}
	if want == "" || strings.TrimSpace(string(b)) == want {
		return yes
	}
	return no
}

func storageDriver() string {
	b, _ := os.ReadFile("/proc/filesystems")
	if strings.Contains(string(b), "overlay") {
		return "overlay2 (overlayfs)"
	}
	return "overlayfs not available in this kernel (modprobe overlay)"
}
