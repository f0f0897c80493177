package seccomp

import (
	"fmt"
	"os"
	"strings"

	"github.com/minirun/minirun/explain"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StepID is the explain step id of installing the seccomp filter.
const StepID = "security-seccomp"

// Step returns the explain step that installs s with Load (nothing for a nil
// s, which means unconfined). It belongs in the
// init's plan after no_new_privs and right before execve (see doc.go). Its
// evidence is the Seccomp line of /proc/self/status: 2 (filter mode) once
// the filter is in, and the number of filters stacked on the process.
func Step(s *specs.LinuxSeccomp) explain.Step {
	size := explain.Text{PT: "perfil inválido", EN: "invalid profile"}
	// Compiled once, here: Do loads this very program.
	f, err := Prepare(s)
	if s == nil {
		size = explain.Text{PT: "nenhum: unconfined", EN: "none: unconfined"}
	} else if err == nil {
		size = explain.Text{PT: fmt.Sprintf("%d instruções BPF", f.Len()), EN: fmt.Sprintf("%d BPF instructions", f.Len())}
	}
	return explain.Step{
		ID:      StepID,
		Chapter: explain.ChapterSecurity,
		Title: explain.Text{
			PT: "Instala o filtro seccomp (" + size.PT + ")",
			EN: "Install the seccomp filter (" + size.EN + ")",
		},
		Why: explain.Text{
			PT: "Daqui em diante o kernel roda um pequeno programa BPF a cada chamada de sistema e recusa as que o perfil não permite (mount, keyctl, unshare…), mesmo para root.",
			EN: "From now on the kernel runs a small BPF program on every system call and refuses those the profile does not allow (mount, keyctl, unshare…), even for root.",
		},
		Shell: "grep Seccomp /proc/self/status",
		Do: func() error {
			if err != nil {
				return err
			}
			return f.Load()
		},
		Evidence: statusSeccomp,
	}
}

// statusSeccomp returns the Seccomp lines of /proc/self/status ("Seccomp:
// 2" means filter mode, see proc(5)).
func statusSeccomp() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Seccomp") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(lines, "\n")
}
