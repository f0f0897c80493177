package course

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/explain"
)

func init() {
	register(&Chapter{
		Name: explain.ChapterComponents,
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			return 0, tr.Run(componentsPlan(e.Containers, e.Image), nil)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error {
			return tr.Run(componentsPlan(nil, e.Image), nil)
		},
	})
}

// componentsPlan narrates minirun's parts while a real detached container
// runs: this CLI, the shim it starts, the container's init; and it shows,
// from /proc, that nothing of the runtime stays behind once the container
// runs, as runc exits in Docker. A dry run walks the same plan with m nil.
func componentsPlan(m *container.Manager, image string) explain.Plan {
	var meta *container.Meta
	self := os.Getpid()
	steps := explain.Plan{{
		ID: "components-client", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "O cliente: este comando minirun", EN: "The client: this minirun command"},
		Why: explain.Text{PT: "Como o docker, ele só pede; quem cuida do contêiner é outro processo.",
			EN: "Like docker, it only asks; another process looks after the container."},
		Shell:    "ps -o pid,ppid,sid,args -p $$",
		Evidence: func() string { return psLine(self) },
	}, {
		ID: "components-shim", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Inicia o shim, que cria e inicia o contêiner", EN: "Start the shim, which creates and starts the container"},
		Why: explain.Text{PT: "O shim fica: guarda stdin/stdout, grava os logs e espera o fim do contêiner (como o containerd-shim).",
			EN: "The shim stays: it holds stdin/stdout, writes the logs and waits for the container's end (like containerd-shim)."},
		Shell: "minirun run -d --name componentes " + image + " sleep 60",
		Do: func() error {
			var err error
			meta, err = m.RunDetached(container.RunOpts{Name: "componentes-" + strconv.Itoa(self), Image: image, Cmd: []string{"sleep", "60"}}, false, nil)
			return err
		},
		Undo: func() error { return m.Remove(meta.ID, true) },
		EvidenceText: func() explain.Text {
			pid := meta.State.Pid
			if cur, err := m.Get(meta.ID); err == nil {
				pid = cur.State.Pid
			}
			shim := ppidOf(pid)
			ps := psLine(shim) + "\n" + psLine(pid) + "\n"
			parent := strconv.Itoa(ppidOf(shim))
			return explain.Text{
				PT: ps + "(shim: pai = " + parent + ", sessão própria; init do contêiner: filho do shim)",
				EN: ps + "(shim: parent = " + parent + ", a session of its own; container init: the shim's child)",
			}
		},
	}, {
		ID: "components-runtime-exits", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "A parte runtime (o \"runc\") já saiu", EN: "The runtime part (the \"runc\") has exited"},
		Why: explain.Text{PT: "create/start rodaram dentro do shim e terminaram; o init fez execve e virou o programa.",
			EN: "create/start ran inside the shim and returned; the init execve()d and became the program."},
		Shell: "ps -eo pid,args | grep 'minirun init'",
		EvidenceText: func() explain.Text {
			count := func() int {
				n := 0
				ents, _ := os.ReadDir("/proc")
				for _, e := range ents {
					if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), "minirun\x00init") {
						n++
					}
				}
				return n
			}
			// The shim says "ok" right after start; the init's execve
			// follows a moment later.
			n := count()
			for i := 0; n > 0 && i < 50; i++ {
				time.Sleep(20 * time.Millisecond)
				n = count()
			}
			return explain.Text{PT: fmt.Sprintf("processos \"minirun init\" vivos: %d", n), EN: fmt.Sprintf("live \"minirun init\" processes: %d", n)}
		},
	}, {
		ID: "components-compare", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Lado a lado com o Docker", EN: "Side by side with Docker"},
		Why: explain.Text{PT: "Mesmas funções, menos processos: o minirun junta cliente, daemon e containerd num comando só.",
			EN: "Same jobs, fewer processes: minirun folds client, daemon and containerd into one command."},
		Shell: "pstree -p $(pgrep -f minirun-shim)",
		EvidenceText: func() explain.Text {
			return explain.Text{
				PT: "Docker:  docker → dockerd → containerd → containerd-shim → (runc: sai) → init\n" +
					"minirun: minirun ─────────────────────→ minirun-shim → (runtime: sai) → init",
				EN: "Docker:  docker → dockerd → containerd → containerd-shim → (runc: exits) → init\n" +
					"minirun: minirun ─────────────────────→ minirun-shim → (runtime: exits) → init",
			}
		},
	}, {
		ID: "components-stop", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "Remove o contêiner; o shim sai junto", EN: "Remove the container; the shim exits with it"},
		Why: explain.Text{PT: "O shim registra o código de saída e termina depois do contêiner.",
			EN: "The shim records the exit code and ends after the container."},
		Shell: "minirun rm -f componentes",
		Do:    func() error { return m.Remove(meta.ID, true) },
		EvidenceText: func() explain.Text {
			time.Sleep(100 * time.Millisecond)
			n := strconv.Itoa(countShims())
			return explain.Text{PT: "minirun-shim vivos: " + n, EN: "live minirun-shim processes: " + n}
		},
	}}
	return steps
}

func psLine(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(cmd) > 60 {
		cmd = cmd[:59] + "…"
	}
	return fmt.Sprintf("pid %d ppid %d: %s", pid, ppidOf(pid), cmd)
}

func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	p, _ := strconv.Atoi(f[1])
	return p
}

func countShims() int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), "minirun-shim\x00") {
			n++
		}
	}
	return n
}
