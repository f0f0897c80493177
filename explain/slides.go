package explain

import (
	"fmt"
	"io"
	"strings"
)

// SlideKind says what a slide is for: most teach something minirun shows;
// the others open the deck, list the day or open a section.
type SlideKind string

// The kinds of slide in the deck.
const (
	// SlideContent teaches something: it names the steps, lab or page
	// that show it.
	SlideContent SlideKind = "content"
	// SlideTitle is the deck's cover, SlideAgenda the day's plan and
	// SlideSection a section's opening: nothing to show.
	SlideTitle   SlideKind = "title"
	SlideAgenda  SlideKind = "agenda"
	SlideSection SlideKind = "section"
	// SlideVendor shows one vendor's product that has no place on a
	// classroom machine; its page says what minirun shows instead.
	SlideVendor SlideKind = "vendor"
)

// Slide is the entry of one slide of the course's deck in the slide map:
// its number and title as the deck has them, and what in minirun covers it.
type Slide struct {
	Num   int
	Title string
	Kind  SlideKind
	// Chapter is the `minirun explain` chapter that runs the slide's
	// steps (empty when only a lab or a page covers it).
	Chapter Chapter
	// Steps are the step IDs that show the slide, in the order they run.
	Steps []string
	// Also are other chapters that show the slide too, each with the
	// slide's steps it runs: the overlay chapter on the network slides
	// that speak of containers on several hosts. `explain --slide N` runs
	// Chapter; the slide's line in `explain slides` names these too.
	Also []SlideSteps
	// Lab is the `minirun lab` exercise of the slide (docs/labs/LAB.md).
	Lab string
	// Doc is the docs anchor that explains the slide
	// ("docs/network.md#network-dns").
	Doc string
	// Note says, in both languages, what the slide is when it shows
	// nothing, or what the steps do not show yet.
	Note Text
}

// SlideSteps are the steps of a slide that one more chapter runs.
type SlideSteps struct {
	Chapter Chapter
	Steps   []string
}

// AllSteps are the slide's steps in every chapter that shows it:
// Chapter's first, then those of Also.
func (s Slide) AllSteps() []string {
	out := append([]string{}, s.Steps...)
	for _, a := range s.Also {
		out = append(out, a.Steps...)
	}
	return out
}

// Label is how the narration names the slide: "slide 26 · DNS RR".
func (s Slide) Label() string { return fmt.Sprintf("slide %d · %s", s.Num, s.Title) }

// DeckFile is the deck's file name in the course material (shared/seed/ in
// the project's workspace); MINIRUN_DECK may point elsewhere.
const DeckFile = "000_e15dbc4d8ffa8b62.txt"

// Slides is the slide map: every slide of the deck, in display order, with
// what covers it. A unit test parses the deck and fails when a slide has no
// entry, when a title here no longer matches the deck's, or when a step,
// lab or anchor named here does not exist.
var Slides = []Slide{
	{Num: 1, Title: "Docker - Infraestrutura imutavel", Kind: SlideTitle,
		Note: Text{"Capa do curso: nada a mostrar.", "The course's cover: nothing to show."}},
	{Num: 2, Title: "Agenda", Kind: SlideAgenda,
		Note: Text{"A agenda do dia: cada item tem seus slides abaixo.", "The day's plan: each item has its slides below."}},
	{Num: 3, Title: "Comunicação entre containers", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-state", "network-bridge", "network-dnat", "network-dns"}, Lab: "network", Doc: "docs/network.md#network-dnat"},
	{Num: 4, Title: "Gerenciando multiplos containers com docker-compose", Kind: SlideContent,
		Lab: "compose", Doc: "docs/compose.md#compose-nomes"},
	{Num: 5, Title: "docker-compose.yaml", Kind: SlideContent,
		Lab: "compose", Doc: "docs/compose.md#compose-arquivo-original"},
	{Num: 6, Title: "docker-compose volumes", Kind: SlideContent, Chapter: ChapterVolumes,
		Steps: []string{"volumes-create", "volumes-copy", "volumes-mount"}, Lab: "compose", Doc: "docs/compose.md#compose-recriar"},
	{Num: 7, Title: "Docker Containers Internals", Kind: SlideSection,
		Note: Text{"Abre a parte de internals: componentes, namespaces, cgroups.", "Opens the internals part: components, namespaces, cgroups."}},
	{Num: 8, Title: "Componentes", Kind: SlideContent, Chapter: ChapterComponents,
		Steps: []string{"components-client", "components-shim", "components-runtime-exits"}, Doc: "docs/components.md#components-client"},
	{Num: 9, Title: "Docker container Model", Kind: SlideContent, Chapter: ChapterComponents,
		Steps: []string{"components-compare"}, Doc: "docs/components.md#components-compare",
		Note: Text{"O modelo antigo: o daemon era pai de todo contêiner.", "The old model: the daemon was every container's parent."}},
	{Num: 10, Title: "Docker container Model", Kind: SlideContent, Chapter: ChapterComponents,
		Steps: []string{"components-shim", "components-runtime-exits", "components-compare"}, Doc: "docs/components.md#components-shim"},
	{Num: 11, Title: "Docker Client", Kind: SlideContent, Chapter: ChapterAPI,
		Steps: []string{"components-api-client", "components-api-request", "components-api-answer"}, Doc: "docs/components.md#components-api",
		Note: Text{"O docker do Debian fala REST com o minirun daemon; TLS e plugins de autorização estão na página.",
			"Debian's docker speaks REST to minirun daemon; TLS and authorization plugins are on the page."}},
	{Num: 12, Title: "Docker Daemon", Kind: SlideContent, Chapter: ChapterAPI,
		Steps: []string{"components-daemon-socket", "components-api-serve", "components-api-request", "components-api-chain"}, Doc: "docs/components.md#components-api",
		Note: Text{"Sem containerd nem gRPC: o papel dele fica no processo do daemon.",
			"No containerd and no gRPC: its part lives in the daemon's process."}},
	{Num: 13, Title: "containerd", Kind: SlideContent, Chapter: ChapterLifecycle,
		Steps: []string{"lifecycle-state-dir", "lifecycle-save-state", "lifecycle-start", "lifecycle-kill", "lifecycle-delete"}, Doc: "docs/lifecycle.md#lifecycle-state-dir"},
	{Num: 14, Title: "runc", Kind: SlideContent, Chapter: ChapterLifecycle,
		Steps: []string{"lifecycle-exec-fifo", "lifecycle-sync-socket", "lifecycle-start", "security-sealed-binary"}, Doc: "docs/lifecycle.md#lifecycle-sync-socket"},
	{Num: 15, Title: "Internals CGROUPS", Kind: SlideContent, Chapter: ChapterCgroups,
		Steps: []string{"cgroups-create", "cgroups-write", "cgroups-io-throttle", "cgroups-add-process", "cgroups-devices-bpf", "cgroups-remove"}, Lab: "cgroups", Doc: "docs/cgroups.md#cgroups-write"},
	{Num: 16, Title: "Namespaces", Kind: SlideContent, Chapter: ChapterCgroups,
		Steps: []string{"cgroups-create", "cgroups-add-process"}, Lab: "cgroups", Doc: "docs/cgroups.md#cgroups-create",
		Note: Text{"A figura mostra os cgroups do Docker.", "The picture shows Docker's cgroups."}},
	{Num: 17, Title: "Namespaces", Kind: SlideContent, Chapter: ChapterNamespaces,
		Steps: []string{"ns-clone", "ns-userns-map", "ns-loopback", "ns-hostname", "ns-cgroup"}, Lab: "namespaces", Doc: "docs/namespaces.md#ns-clone",
		Note: Text{"user: ns-userns-map aparece com explain namespaces --userns-remap USUARIO.", "user: ns-userns-map shows with explain namespaces --userns-remap USER."}},
	{Num: 18, Title: "Drop Privileges/Security", Kind: SlideContent, Chapter: ChapterSecurity,
		Steps: []string{"security-lsm", "process-capabilities", "process-no-new-privs", "security-seccomp", "security-apparmor"}, Lab: "security", Doc: "docs/security.md#security-seccomp",
		Note: Text{"AppArmor/SELinux: security-lsm diz se estão ligados; o perfil só se aplica onde docker-default está carregado.", "AppArmor/SELinux: security-lsm says whether they are on; a profile only applies where docker-default is loaded."}},
	{Num: 19, Title: "Docker Images", Kind: SlideContent, Chapter: ChapterImages,
		Steps: []string{"images-registry-start", "images-push", "images-pull-manifest", "images-pull-layer", "images-dockerfile", "images-build-step"}, Doc: "docs/images.md#images-build-step"},
	{Num: 20, Title: "Docker Containers Network", Kind: SlideSection,
		Note: Text{"Abre a parte de rede.", "Opens the network part."}},
	{Num: 21, Title: "Visão geral de rede no Docker", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-bridge", "network-masquerade", "network-dnat", "network-join", "network-dns", "network-dns-rr"}, Lab: "network", Doc: "docs/network.md#drivers",
		Also: []SlideSteps{{ChapterOverlay, []string{"overlay-host", "network-overlay-vxlan", "network-overlay-endpoint", "overlay-ping", "network-dns-rr"}}},
		Note: Text{"Entre hosts: minirun explain overlay (dois hosts, um etcd, VXLAN).", "Between hosts: minirun explain overlay (two hosts, one etcd, VXLAN)."}},
	{Num: 22, Title: "Visão Geral Rede Docker", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-route-localnet", "network-ipam", "network-dnat", "network-localhost"}, Doc: "docs/network.md#network-dnat"},
	{Num: 23, Title: "Padrão de rede no Docker", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-bridge", "network-gateway", "network-ip-forward", "network-masquerade", "network-ipam", "network-veth"}, Doc: "docs/network.md#network-bridge",
		Note: Text{"O capítulo usa uma rede própria (a boa prática do slide); a bridge padrão é a mesma coisa, com o DNS a menos.", "The chapter uses a network of its own (the slide's good practice); the default bridge is the same thing, minus DNS."}},
	{Num: 24, Title: "Comandos Rede", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-state", "network-join", "network-veth-delete", "network-ipam-release", "network-etc-files", "network-state-delete"}, Lab: "network", Doc: "docs/network.md#network-state"},
	{Num: 25, Title: "LAB", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-state", "network-ipam", "network-join", "network-veth-delete", "network-etc-files"}, Lab: "network", Doc: "docs/network.md#network-join"},
	{Num: 26, Title: "DNS RR", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-dns", "network-dns-rr"}, Lab: "dns-rr", Doc: "docs/network.md#network-dns"},
	{Num: 27, Title: "LAB DNS RR", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-ipam", "network-join", "network-dns-rr"}, Lab: "dns-rr", Doc: "docs/network.md#network-dns-rr"},
	{Num: 28, Title: "Network More", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-bridge", "network-isolation", "network-host"}, Doc: "docs/network.md#drivers",
		Also: []SlideSteps{{ChapterOverlay, []string{"network-overlay-define", "network-overlay-vxlan", "network-overlay-peer", "overlay-tables", "overlay-keys"}}},
		Note: Text{"Todos rodam: bridge, host e none em explain network; overlay em explain overlay; macvlan e ipvlan em docs/network.md#sublink; plugins com network create -d PLUGIN (docs/plugins.md, examples/net-veth).",
			"All run: bridge, host and none in explain network; overlay in explain overlay; macvlan and ipvlan in docs/network.md#sublink; plugins with network create -d PLUGIN (docs/plugins.md, examples/net-veth)."}},
	{Num: 29, Title: "CNM", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-state", "network-ipam", "network-veth", "network-join"}, Doc: "docs/network.md#network-join",
		Also: []SlideSteps{{ChapterOverlay, []string{"overlay-container", "network-overlay-define", "network-overlay-endpoint"}}},
		Note: Text{"Sandbox, endpoint e rede do CNM; um driver remoto é um plugin (docs/plugins.md), e o overlay é o driver de vários hosts (explain overlay).",
			"CNM's sandbox, endpoint and network; a remote driver is a plugin (docs/plugins.md), and overlay is the multi-host driver (explain overlay)."}},
	{Num: 30, Title: "Host Driver", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-host"}, Doc: "docs/network.md#network-host",
		Note: Text{"--network host: o mesmo namespace de rede do host.", "--network host: the host's own network namespace."}},
	{Num: 31, Title: "Bridge", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-bridge", "network-veth", "network-bridge-port"}, Doc: "docs/network.md#network-bridge"},
	{Num: 32, Title: "Bridge", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-gateway", "network-addr", "network-route"}, Doc: "docs/network.md#network-route"},
	{Num: 33, Title: "Acesso Externo", Kind: SlideContent, Chapter: ChapterNetwork,
		Steps: []string{"network-ip-forward", "network-masquerade", "network-dnat", "network-localhost"}, Doc: "docs/network.md#network-masquerade"},
	{Num: 34, Title: "Docker Storage", Kind: SlideSection,
		Note: Text{"Abre a parte de armazenamento.", "Opens the storage part."}},
	{Num: 35, Title: "Docker StorageDriver", Kind: SlideContent, Chapter: ChapterRootfs,
		Steps: []string{"rootfs-overlay-mount"}, Doc: "docs/images.md#images-vfs-copy",
		Note: Text{"overlay2 e vfs (--storage-driver vfs); AUFS saiu do kernel.", "overlay2 and vfs (--storage-driver vfs); AUFS left the kernel."}},
	{Num: 36, Title: "Union FS", Kind: SlideContent, Chapter: ChapterRootfs,
		Steps: []string{"rootfs-overlay-mount"}, Lab: "overlay", Doc: "docs/rootfs.md#rootfs-overlay-mount"},
	{Num: 37, Title: "Sharing Layers", Kind: SlideContent, Chapter: ChapterImages,
		Steps: []string{"images-layer-commit", "images-layer-whiteout", "images-layers-shared"}, Lab: "overlay", Doc: "docs/images.md#images-layers-shared"},
	{Num: 38, Title: "docker history", Kind: SlideContent, Chapter: ChapterImages,
		Steps: []string{"images-build-step", "images-build-diff", "images-build-cache", "images-history"}, Doc: "docs/images.md#images-history"},
	{Num: 39, Title: "docker inspect", Kind: SlideContent, Chapter: ChapterRootfs,
		Steps: []string{"rootfs-overlay-mount"}, Lab: "overlay", Doc: "docs/rootfs.md#rootfs-overlay-mount"},
	{Num: 40, Title: "overlayfs", Kind: SlideContent, Chapter: ChapterRootfs,
		Steps: []string{"rootfs-overlay-mount", "rootfs-pivot-root"}, Lab: "overlay", Doc: "docs/rootfs.md#rootfs-overlay-mount"},
	{Num: 41, Title: "Volumes", Kind: SlideContent, Chapter: ChapterVolumes,
		Steps: []string{"volumes-create", "volumes-mount", "volumes-bind", "volumes-unmount"}, Lab: "volumes", Doc: "docs/volumes.md#volumes-create"},
	{Num: 42, Title: "Shared Storage (no mesmo host)", Kind: SlideContent, Chapter: ChapterVolumes,
		Steps: []string{"volumes-create", "volumes-mount", "volumes-copy", "volumes-bind", "volumes-unmount", "volumes-remove"}, Lab: "volumes", Doc: "docs/volumes.md#volumes-mount"},
	{Num: 43, Title: "NFS", Kind: SlideContent, Chapter: ChapterVolumes,
		Steps: []string{"volumes-nfs-check"}, Doc: "docs/volumes.md#volumes-nfs-check",
		Note: Text{"Só a checagem do cliente NFS; o servidor NFS de verdade é a issue #18.", "Only the NFS client check; a real NFS server is issue #18."}},
	{Num: 44, Title: "Plugins", Kind: SlideContent, Doc: "docs/volumes.md#volumes-plugin-create",
		Note: Text{"Plugins de volume: `minirun volume create --driver PLUGIN` fala o protocolo do Docker com um plugin (docs/plugins.md, exemplo em examples/volume-dirs); `network create -d PLUGIN` e `--ipam-driver PLUGIN` falam o do libnetwork (exemplo em examples/net-veth).",
			"Volume plugins: `minirun volume create --driver PLUGIN` speaks Docker's protocol to a plugin (docs/plugins.md, example in examples/volume-dirs); `network create -d PLUGIN` and `--ipam-driver PLUGIN` speak libnetwork's (example in examples/net-veth)."}},
	{Num: 45, Title: "Plugins Ex:", Kind: SlideVendor, Doc: "docs/volumes.md#volumes-create",
		Note: Text{"Uma lista de produtos: nenhum roda numa máquina de aula.", "A list of products: none runs on a class machine."}},
	{Num: 46, Title: "Nutanix Plugin!", Kind: SlideVendor, Doc: "docs/volumes.md#volumes-create",
		Note: Text{"Preparação de um host para um produto: nada a mostrar aqui.", "Preparing a host for one product: nothing to show here."}},
	{Num: 47, Title: "Instalando o plugin", Kind: SlideVendor, Doc: "docs/volumes.md#volumes-create",
		Note: Text{"docker plugin install de um produto: nada a mostrar aqui.", "docker plugin install of one product: nothing to show here."}},
}

// SlidesFor returns the slides a step shows, in deck order.
func SlidesFor(stepID string) []Slide {
	var out []Slide
	for _, s := range Slides {
		for _, id := range s.AllSteps() {
			if id == stepID {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// SlideByNum returns slide n of the map.
func SlideByNum(n int) (Slide, bool) {
	for _, s := range Slides {
		if s.Num == n {
			return s, true
		}
	}
	return Slide{}, false
}

// SlideLabels is the narration's "slide" line for a step: its slides'
// labels joined, or "" when no slide shows it.
func SlideLabels(stepID string) string { return strings.Join(slideLabels(stepID), ", ") }

func slideLabels(stepID string) []string {
	var l []string
	for _, s := range SlidesFor(stepID) {
		l = append(l, s.Label())
	}
	return l
}

// kindNote is what the list says of a slide that shows nothing.
var kindNote = map[SlideKind]Text{
	SlideTitle:   {"capa", "cover"},
	SlideAgenda:  {"agenda", "agenda"},
	SlideSection: {"abertura de seção", "section opening"},
	SlideVendor:  {"produto de um fornecedor", "one vendor's product"},
}

// Covers says in one line what covers the slide: chapter and steps, lab,
// docs anchor, note.
func (s Slide) Covers(lang Lang) string {
	var parts []string
	if n, ok := kindNote[s.Kind]; ok {
		parts = append(parts, n.In(lang)+":")
	}
	if s.Chapter != "" {
		w := Text{"capítulo", "chapter"}
		parts = append(parts, fmt.Sprintf("%s %s (%s);", w.In(lang), s.Chapter, strings.Join(s.Steps, ", ")))
	}
	for _, a := range s.Also {
		w := Text{"capítulo", "chapter"}
		parts = append(parts, fmt.Sprintf("%s %s (%s);", w.In(lang), a.Chapter, strings.Join(a.Steps, ", ")))
	}
	if s.Lab != "" {
		parts = append(parts, "lab "+s.Lab+";")
	}
	if s.Doc != "" {
		parts = append(parts, s.Doc+";")
	}
	if s.Note.PT != "" {
		parts = append(parts, s.Note.In(lang))
	}
	out := strings.Join(parts, " ")
	return strings.TrimSuffix(out, ";")
}

// PrintSlides writes the slide map for `minirun explain slides`: every
// slide of the deck with what covers it, folded to width columns.
func PrintSlides(w io.Writer, lang Lang, width int) {
	if width <= 20 {
		width = 80
	}
	head := Text{"Slides do curso e o que os mostra (minirun explain --slide N):",
		"The course's slides and what shows them (minirun explain --slide N):"}
	fold(w, "", 2, width, head.In(lang))
	for _, s := range Slides {
		fold(w, fmt.Sprintf("%3d  ", s.Num), 5, width, s.Title)
		fold(w, "     ", 7, width, s.Covers(lang))
	}
}

// PrintSlide writes one slide's label and what covers it: the header of
// `minirun explain --slide N`.
func PrintSlide(w io.Writer, s Slide, lang Lang, width int) {
	if width <= 20 {
		width = 80
	}
	fold(w, "", 2, width, s.Label())
	fold(w, "  ", 4, width, s.Covers(lang))
}
