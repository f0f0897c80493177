package explain

import (
	"fmt"
	"io"
	"strings"
)

// Chapter is a part of the course that `minirun explain CHAPTER` narrates.
// Each chapter has a page in docs/ named after it.
type Chapter string

// The chapters. Later features add theirs here, with their page in docs/.
const (
	ChapterLifecycle  Chapter = "lifecycle"
	ChapterNamespaces Chapter = "namespaces"
	ChapterRootfs     Chapter = "rootfs"
	ChapterMounts     Chapter = "mounts"
	ChapterProcess    Chapter = "process"
	ChapterCgroups    Chapter = "cgroups"
	ChapterNetwork    Chapter = "network"
	ChapterImages     Chapter = "images"
	ChapterSecurity   Chapter = "security"
	ChapterComponents Chapter = "components"
	// ChapterAPI is the components chapter's second half: the docker
	// client against minirun's daemon. Its steps are the components
	// chapter's and live on that page (docs/components.md).
	ChapterAPI     Chapter = "api"
	ChapterVolumes Chapter = "volumes"
	// ChapterOverlay is the multi-host network: two hosts (network
	// namespaces on an underlay) and one etcd, the network chapter's
	// overlay steps between them (docs/overlay.md).
	ChapterOverlay Chapter = "overlay"
)

// ChapterInfo describes a chapter for `minirun explain` without arguments.
type ChapterInfo struct {
	Name    Chapter
	Title   Text
	Summary Text
}

// Chapters lists the chapters in the order the course teaches them.
var Chapters = []ChapterInfo{
	{ChapterComponents, Text{"Componentes", "Components"},
		Text{"Cliente, shim, init do contêiner: a árvore de processos ao lado da do Docker.",
			"Client, shim, container init: the process tree beside Docker's."}},
	{ChapterAPI, Text{"A API do Docker", "Docker's API"},
		Text{"O cliente docker fala HTTP com o minirun daemon: cada pedido e o que o daemon faz por ele.",
			"The docker client speaks HTTP to minirun's daemon: each request and what the daemon does for it."}},
	{ChapterLifecycle, Text{"Ciclo de vida OCI", "OCI lifecycle"},
		Text{"create, start, state, kill e delete: o que o runc faz e quando.",
			"create, start, state, kill and delete: what runc does and when."}},
	{ChapterNamespaces, Text{"Namespaces", "Namespaces"},
		Text{"pid, net, mnt, uts, ipc, user e cgroup: o que o processo passa a enxergar.",
			"pid, net, mnt, uts, ipc, user and cgroup: what the process gets to see."}},
	{ChapterRootfs, Text{"Sistema de arquivos raiz", "Root filesystem"},
		Text{"Camadas da imagem unidas pelo overlayfs e o pivot_root para dentro delas.",
			"Image layers joined by overlayfs and the pivot_root into them."}},
	{ChapterMounts, Text{"Montagens", "Mounts"},
		Text{"/proc, /sys, /dev e as montagens que isolam o contêiner do host.",
			"/proc, /sys, /dev and the mounts that keep the container apart from the host."}},
	{ChapterProcess, Text{"O processo do contêiner", "The container's process"},
		Text{"Usuário, capabilities, limites e o execve final.",
			"User, capabilities, limits and the final execve."}},
	{ChapterImages, Text{"Imagens e armazenamento", "Images and storage"},
		Text{"Camadas por digest, pull de um registry, build de um Dockerfile, history.",
			"Layers by digest, pull from a registry, build from a Dockerfile, history."}},
	{ChapterNetwork, Text{"Rede", "Network"},
		Text{"Bridge, par veth, NAT, portas publicadas e o DNS de cada rede.",
			"Bridge, veth pair, NAT, published ports and each network's DNS."}},
	{ChapterOverlay, Text{"Rede overlay entre hosts", "Overlay network across hosts"},
		Text{"VXLAN, as tabelas de FDB e de vizinhos e as chaves no etcd: dois hosts, uma rede.",
			"VXLAN, the FDB and neighbour tables and the keys in etcd: two hosts, one network."}},
	{ChapterVolumes, Text{"Volumes", "Volumes"},
		Text{"Bind mount, volume nomeado e a camada gravável: onde cada escrita vai parar.",
			"Bind mount, named volume and the writable layer: where each write lands."}},
	{ChapterSecurity, Text{"Segurança", "Security"},
		Text{"Capabilities, no_new_privs, seccomp e o que o Docker bloqueia por padrão.",
			"Capabilities, no_new_privs, seccomp and what Docker blocks by default."}},
	{ChapterCgroups, Text{"Cgroups", "Cgroups"},
		Text{"Hierarquias de CPU, memória, blkio/io, pids e dispositivos; v1 e v2.",
			"CPU, memory, blkio/io, pids and device hierarchies; v1 and v2."}},
}

// Known reports whether c is a chapter minirun can narrate.
func Known(c Chapter) bool {
	for _, ci := range Chapters {
		if ci.Name == c {
			return true
		}
	}
	return false
}

// PrintChapters writes the chapter list of `minirun explain`, folded to
// width columns; with pt+en each text is on a line of its own, Portuguese
// first.
func PrintChapters(w io.Writer, lang Lang, width int) {
	if width <= 20 {
		width = 80
	}
	langs := []Lang{lang}
	if lang == Both {
		langs = []Lang{PT, EN}
	}
	head := Text{PT: "Capítulos (minirun explain CAPÍTULO):", EN: "Chapters (minirun explain CHAPTER):"}
	for _, l := range langs {
		fmt.Fprintln(w, head.In(l))
	}
	for _, ch := range Chapters {
		for i, l := range langs {
			prefix := fmt.Sprintf("  %-11s ", "")
			if i == 0 {
				prefix = fmt.Sprintf("  %-11s ", ch.Name)
			}
			fold(w, prefix, 14, width, ch.Title.In(l))
			fold(w, strings.Repeat(" ", 14), 14, width, ch.Summary.In(l))
		}
	}
}
