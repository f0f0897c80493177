package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// volumesLab: the named volume dados is mounted in escritor, which writes
// a note in it, and in leitor, which reads the note; leitor also gets a
// directory of the host bound read-only at /site.
func volumesLab() *Lab {
	var escritor, leitor int
	return &Lab{
		Name:  "volumes",
		Title: text("volumes nomeados e bind mounts", "named volumes and bind mounts"),
		Checks: []Check{
			{
				What: text("escritor e leitor estão rodando", "escritor and leitor are running"),
				Hint: text("rode os dois contêineres do roteiro, ambos com -v dados:/dados",
					"run the guide's two containers, both with -v dados:/dados"),
				Run: func(e *Env) error {
					w, err := e.running("escritor")
					if err != nil {
						return err
					}
					r, err := e.running("leitor")
					if err != nil {
						return err
					}
					escritor, leitor = w.State.Pid, r.State.Pid
					return nil
				},
			},
			{
				What: text("/dados é a mesma montagem nos dois contêineres (o volume dados)",
					"/dados is the same mount in both containers (volume dados)"),
				Hint: text("os dois contêineres precisam de -v dados:/dados: o mesmo nome, o mesmo volume",
					"both containers need -v dados:/dados: the same name, the same volume"),
				Run: func(e *Env) error {
					w, err := e.mountOf(escritor, "escritor", "/dados")
					if err != nil {
						return err
					}
					r, err := e.mountOf(leitor, "leitor", "/dados")
					if err != nil {
						return err
					}
					// The same filesystem (major:minor) and the same
					// directory of it (root) is the same data.
					if w.Dev != r.Dev || w.Root != r.Root {
						return fmt.Errorf("escritor %s %s, leitor %s %s", w.Dev, w.Root, r.Dev, r.Root)
					}
					return nil
				},
			},
			{
				What: text("leitor lê em /dados/recado o que escritor escreveu", "leitor reads in /dados/recado what escritor wrote"),
				Hint: text("escritor escreve o recado ao iniciar (veja minirun logs escritor); recrie-o com o comando do roteiro",
					"escritor writes the note when it starts (see minirun logs escritor); run it again with the guide's command"),
				Run: func(e *Env) error {
					// Through /proc/PID/root the path is resolved in
					// leitor's own mount namespace: its view of /dados.
					p := filepath.Join(e.Proc, strconv.Itoa(leitor), "root", "dados", "recado")
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					if !strings.Contains(string(b), "escritor") {
						return fmt.Errorf("recado: %q", strings.TrimSpace(string(b)))
					}
					return nil
				},
			},
			{
				What: text("/site em leitor é um bind mount somente leitura", "/site in leitor is a read-only bind mount"),
				Hint: text("leitor precisa de -v /minirun/docs:/site:ro (o :ro no fim)",
					"leitor needs -v /minirun/docs:/site:ro (the :ro at the end)"),
				Run: func(e *Env) error {
					m, err := e.mountOf(leitor, "leitor", "/site")
					if err != nil {
						return err
					}
					if !m.ReadOnly() {
						return fmt.Errorf("/site: %s", m.Options)
					}
					return nil
				},
			},
		},
	}
}

// mountOf returns what process pid (the container name) has mounted at
// path.
func (e *Env) mountOf(pid int, name, path string) (mount, error) {
	ms, err := e.mounts(pid)
	if err != nil {
		return mount{}, err
	}
	m, ok := mountAt(ms, path)
	if !ok {
		return mount{}, errors.New(name + ": nada montado em / nothing mounted at " + path)
	}
	return m, nil
}
