package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minirun/minirun/explain"
)

// The ids of the steps this package narrates; docs/cgroups.md has an
// anchor for each.
const (
	StepCreate            = "cgroups-create"
	StepEnableControllers = "cgroups-enable-controllers"
	StepWrite             = "cgroups-write"
	StepAddProcess        = "cgroups-add-process"
	StepDevicesBPF        = "cgroups-devices-bpf"
	StepFreeze            = "cgroups-freeze"
	StepThaw              = "cgroups-thaw"
	StepRemove            = "cgroups-remove"

	// StepIOThrottle is the write of a per-disk cap (v1
	// blkio.throttle.*_device, v2 io.max): a write step of its own, so
	// the deck's blkio item has a step to point at.
	StepIOThrottle = "cgroups-io-throttle"
)

func text(pt, en string) explain.Text { return explain.Text{PT: pt, EN: en} }

// shellWord quotes a value for the step's shell equivalent: single quotes
// keep it as it is ("max 100000"), but a command substitution a dry run
// stands in for a value it cannot read yet ("$(cat …/cpuset.cpus)") needs
// double quotes, or the shell would write the text instead of running it.
func shellWord(v string) string {
	if strings.HasPrefix(v, "$(") && strings.HasSuffix(v, ")") {
		return `"` + v + `"`
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// writeStep is one write to one control file: the step `minirun explain`
// shows most often, so its reason depends on the file (whyFile).
func writeStep(path, value string) explain.Step {
	name := filepath.Base(path)
	id := StepWrite
	if isThrottleFile(name) {
		id = StepIOThrottle
	}
	return explain.Step{
		ID:      id,
		Chapter: explain.ChapterCgroups,
		Title:   text(fmt.Sprintf("Escreve %q em %s", value, name), fmt.Sprintf("Write %q to %s", value, name)),
		Why:     whyFile(name),
		Shell:   fmt.Sprintf("echo %s > %s", shellWord(value), path),
		Do:      func() error { return writeFile(path, value) },
		Evidence: func() string {
			// Read the value back: the kernel may have rounded it (memory
			// limits go to whole pages) or show it in its own format.
			s, err := readFile(path)
			if err != nil || s == "" {
				return ""
			}
			if len(s) > 200 {
				s = s[:200] + "…"
			}
			return "cat " + name + " → " + strings.ReplaceAll(s, "\n", "; ")
		},
	}
}

// isThrottleFile says whether a control file caps one disk's bytes or
// operations per second: v1's blkio.throttle.{read,write}_{bps,iops}_device
// (Documentation/admin-guide/cgroup-v1/blkio-controller.rst) or v2's io.max
// (Documentation/admin-guide/cgroup-v2.rst, "IO Interface Files").
func isThrottleFile(name string) bool {
	return strings.HasPrefix(name, "blkio.throttle.") || name == "io.max"
}

// whyFile says, in one line, what writing to a control file makes the
// kernel do.
func whyFile(name string) explain.Text {
	switch {
	case name == "memory.limit_in_bytes" || name == "memory.max":
		return text("Teto de RAM do grupo: ao atingi-lo o kernel tenta liberar cache do próprio grupo e, se não consegue, o OOM killer mata um processo do contêiner — o resto do host não é afetado.",
			"The group's RAM ceiling: on reaching it the kernel reclaims the group's own cache and, failing that, the OOM killer kills a process of the container — the rest of the host is untouched.")
	case name == "memory.memsw.limit_in_bytes":
		return text("Teto de RAM + swap somados (v1). Precisa ser ≥ memory.limit_in_bytes a cada instante, por isso a ordem das duas escritas muda quando o limite sobe ou desce.",
			"Ceiling on RAM plus swap (v1). It must stay ≥ memory.limit_in_bytes at every moment, so the order of the two writes flips when the limit goes up or down.")
	case name == "memory.swap.max":
		return text("Teto só de swap (v2). O runtime-spec fala em memória+swap, então o minirun escreve swap − limite, como o runc.",
			"Ceiling on swap alone (v2). The runtime spec speaks of memory+swap, so minirun writes swap − limit, as runc does.")
	case name == "memory.soft_limit_in_bytes" || name == "memory.low":
		return text("Reserva: quando o host aperta, o kernel recupera memória primeiro de quem passou da sua reserva, e poupa quem está abaixo dela.",
			"Reservation: when the host runs short, the kernel reclaims first from groups above their reservation and spares those below it.")
	case name == "memory.swappiness":
		return text("Quão cedo o kernel manda páginas deste grupo para o swap (0 a 100).", "How early the kernel moves this group's pages to swap (0 to 100).")
	case name == "memory.oom_control":
		return text("1 desliga o OOM killer do grupo: no teto, os processos ficam parados esperando memória em vez de morrer.",
			"1 turns the group's OOM killer off: at the ceiling, processes wait for memory instead of being killed.")
	case name == "memory.use_hierarchy":
		return text("Faz os limites do grupo valerem também para os subgrupos (o v2 é sempre assim).", "Makes the group's limits cover its subgroups too (v2 always does).")
	case name == "memory.kmem.tcp.limit_in_bytes":
		return text("Teto para a memória dos buffers TCP do grupo.", "Ceiling on the group's TCP buffer memory.")
	case name == "cpu.shares" || name == "cpu.weight":
		return text("Peso na disputa pela CPU: só conta quando há disputa. No v2 a escala é 1–10000 e o minirun converte shares com a mesma fórmula do runc.",
			"Weight in the contest for CPU: it only counts under contention. v2 uses a 1–10000 scale and minirun converts shares with runc's formula.")
	case name == "cpu.cfs_quota_us" || name == "cpu.cfs_period_us" || name == "cpu.max":
		return text("Limite rígido: no máximo QUOTA µs de CPU a cada PERIOD µs (somando todos os threads); passou disso, o grupo espera o próximo período (throttling).",
			"Hard cap: at most QUOTA µs of CPU per PERIOD µs (all threads together); past it, the group waits for the next period (throttling).")
	case name == "cpu.cfs_burst_us" || name == "cpu.max.burst":
		return text("Quanto da quota não usada pode ser acumulado para picos curtos.", "How much unused quota may be saved up for short bursts.")
	case strings.HasPrefix(name, "cpu.rt_"):
		return text("Orçamento de tempo para threads de tempo real (SCHED_FIFO/RR) do grupo.", "Time budget for the group's realtime (SCHED_FIFO/RR) threads.")
	case name == "cpu.idle":
		return text("1 dá ao grupo a menor prioridade possível: ele só usa CPU que ninguém mais quer.", "1 gives the group the lowest priority: it only gets CPU nobody else wants.")
	case name == "cpuset.cpus":
		return text("Em quais CPUs os threads do contêiner podem rodar.", "Which CPUs the container's threads may run on.")
	case name == "cpuset.mems":
		return text("De quais nós NUMA a memória do contêiner pode vir.", "Which NUMA nodes the container's memory may come from.")
	case name == "pids.max":
		return text("Máximo de tarefas (processos e threads) no grupo: acima dele fork() e clone() falham com EAGAIN — a defesa contra fork bomb.",
			"Most tasks (processes and threads) in the group: above it fork() and clone() fail with EAGAIN — the defence against a fork bomb.")
	case strings.HasPrefix(name, "blkio.weight") || strings.HasPrefix(name, "blkio.bfq.weight") || name == "io.weight":
		return text("Peso na disputa pelo disco: fatia proporcional do tempo do dispositivo quando vários grupos o usam.",
			"Weight in the contest for the disk: a proportional share of the device's time when several groups use it.")
	case isThrottleFile(name):
		return text("Limite rígido de bytes ou operações por segundo num disco (MAJ:MIN); acima dele o kernel atrasa as requisições.",
			"Hard cap on bytes or operations per second on one disk (MAJ:MIN); past it the kernel delays the requests.")
	case name == "devices.deny":
		return text("Lista de dispositivos (v1): 'a' começa negando todos; depois cada regra libera ou bloqueia um tipo MAJ:MIN. open() de um dispositivo negado falha com EPERM, mesmo para root.",
			"Device list (v1): 'a' starts by denying all; then each rule allows or blocks a type MAJ:MIN. open() of a denied device fails with EPERM, even for root.")
	case name == "devices.allow":
		return text("Libera um dispositivo (tipo, MAJ:MIN e acessos r/w/m) para o contêiner — por exemplo c 1:3 para /dev/null.",
			"Allows one device (type, MAJ:MIN and r/w/m access) to the container — e.g. c 1:3 for /dev/null.")
	case strings.HasPrefix(name, "hugetlb."):
		return text("Teto de memória em páginas enormes (hugepages) deste tamanho.", "Ceiling on huge-page memory of this page size.")
	case strings.HasPrefix(name, "net_cls.") || strings.HasPrefix(name, "net_prio."):
		return text("Marca os pacotes do grupo (classid) ou dá prioridade por interface, para o tc e o firewall.", "Tags the group's packets (classid) or sets a priority per interface, for tc and the firewall.")
	case name == "rdma.max":
		return text("Teto de recursos RDMA (handles e objetos) por adaptador.", "Ceiling on RDMA resources (handles and objects) per adapter.")
	}
	return text("Valor pedido em linux.resources; o minirun escreve-o no arquivo de controle tal como está.",
		"A value asked for in linux.resources; minirun writes it to the control file as it is.")
}

// cpusetCopyStep fills an empty v1 cpuset file with its parent's value.
func cpusetCopyStep(path, value string) explain.Step {
	s := writeStep(path, value)
	name := filepath.Base(path)
	s.Title = text(fmt.Sprintf("Copia %s do grupo pai (%s)", name, value), fmt.Sprintf("Copy %s from the parent group (%s)", name, value))
	s.Why = text("No v1 um cpuset novo nasce vazio, e o kernel recusa (ENOSPC) colocar um processo num grupo sem CPU ou sem nó de memória: é preciso herdar os valores do pai à mão.",
		"On v1 a new cpuset starts empty, and the kernel refuses (ENOSPC) to put a process in a group with no CPU or no memory node: the parent's values must be copied by hand.")
	return s
}

func createStep(shell string) explain.Step {
	return explain.Step{
		ID:      StepCreate,
		Chapter: explain.ChapterCgroups,
		Title:   text("Cria o cgroup do contêiner", "Create the container's cgroup"),
		Why: text("Um cgroup é só um diretório no cgroupfs: ao criá-lo o kernel já o preenche com arquivos de controle, e o que for escrito neles vale para todo processo lá dentro.",
			"A cgroup is just a directory in cgroupfs: creating it makes the kernel fill it with control files, and whatever is written there applies to every process inside."),
		Shell: shell,
	}
}

func enableStep(path, value string) explain.Step {
	return explain.Step{
		ID:      StepEnableControllers,
		Chapter: explain.ChapterCgroups,
		Title:   text("Libera controladores para os subgrupos: "+value, "Enable controllers for the subgroups: "+value),
		Why: text("No v2 um filho só recebe memory.max, cpu.max, pids.max… se o pai liberar o controlador em cgroup.subtree_control; e um grupo que libera controladores não pode ter processos próprios (regra \"sem processos internos\").",
			"On v2 a child only gets memory.max, cpu.max, pids.max… if its parent enables the controller in cgroup.subtree_control; and a group that enables controllers may hold no process itself (the \"no internal processes\" rule)."),
		Shell: fmt.Sprintf("echo '%s' > %s", value, path),
		Do:    func() error { return writeFile(path, value) },
	}
}

func addProcessStep(pid int, shell string) explain.Step {
	return explain.Step{
		ID:      StepAddProcess,
		Chapter: explain.ChapterCgroups,
		Title:   text(fmt.Sprintf("Coloca o processo %d no cgroup", pid), fmt.Sprintf("Put process %d in the cgroup", pid)),
		Why: text("Escrever o PID em cgroup.procs move o processo, com todos os seus threads, para o grupo; os filhos que ele criar depois nascem lá. Tem de acontecer antes do código do usuário rodar, senão ele poderia criar processos fora dos limites.",
			"Writing the PID to cgroup.procs moves the process, with all its threads, into the group; the children it forks later are born there. It must happen before the user's code runs, or that code could start processes outside the limits."),
		Shell: shell,
	}
}

func devicesStep(dir string, p devicePolicy) explain.Step {
	def := "nega"
	defEN := "deny"
	if p.defaultAllow {
		def, defEN = "libera", "allow"
	}
	return explain.Step{
		ID:      StepDevicesBPF,
		Chapter: explain.ChapterCgroups,
		Title: text(fmt.Sprintf("Anexar o filtro eBPF de dispositivos (%d regras, padrão: %s)", len(p.rules), def),
			fmt.Sprintf("Attach the eBPF device filter (%d rules, default: %s)", len(p.rules), defEN)),
		Why: text("O v2 não tem devices.allow: o controle de dispositivos é um programa eBPF preso ao cgroup, que o kernel executa a cada open() ou mknod() de um arquivo de dispositivo e que devolve 1 (pode) ou 0 (EPERM).",
			"v2 has no devices.allow: device control is an eBPF program attached to the cgroup, which the kernel runs on every open() or mknod() of a device file and which returns 1 (allowed) or 0 (EPERM)."),
		// By hand the program would be written in C, compiled with clang and
		// loaded with bpftool; minirun assembles it directly (devices_bpf.go).
		// Hence a comment: a shell has no way to make the program by itself.
		Shell: fmt.Sprintf("# bpftool prog load devfilter.o /sys/fs/bpf/minirun_dev type cgroup/dev && bpftool cgroup attach %s device pinned /sys/fs/bpf/minirun_dev multi", dir),
	}
}

func freezeStep(path, value string) explain.Step {
	return explain.Step{
		ID:      StepFreeze,
		Chapter: explain.ChapterCgroups,
		Title:   text("Congela todos os processos do contêiner", "Freeze every process of the container"),
		Why: text("O freezer para o grupo inteiro de uma vez, sem sinal que o processo possa ver, tratar ou ignorar (SIGSTOP seria visível ao pai e ao próprio processo).",
			"The freezer stops the whole group at once, with no signal the process could see, handle or ignore (SIGSTOP would be visible to the parent and the process)."),
		Shell: fmt.Sprintf("echo %s > %s", value, path),
	}
}

func thawStep(path, value string) explain.Step {
	return explain.Step{
		ID:      StepThaw,
		Chapter: explain.ChapterCgroups,
		Title:   text("Descongela os processos do contêiner", "Thaw the container's processes"),
		Why: text("Os processos voltam a rodar do ponto exato em que pararam; para eles, o tempo só pulou.",
			"The processes run again from exactly where they stopped; to them, time just jumped."),
		Shell: fmt.Sprintf("echo %s > %s", value, path),
	}
}

func removeStep(shell string) explain.Step {
	return explain.Step{
		ID:      StepRemove,
		Chapter: explain.ChapterCgroups,
		Title:   text("Remove o cgroup do contêiner", "Remove the container's cgroup"),
		Why: text("rmdir (nunca rm -r) apaga o grupo; o kernel só deixa quando não restam processos nem subgrupos, por isso o contêiner já deve ter terminado. O diretório minirun compartilhado só sai quando fica vazio.",
			"rmdir (never rm -r) deletes the group; the kernel only allows it once no process or subgroup is left, so the container must have exited. The shared minirun directory only goes once it is empty."),
		Shell: shell,
	}
}

// pidWord is the pid for a Shell line: a dry run has no process yet (pid
// 0) and shows $PID, for "echo 0 > cgroup.procs" would move the shell that
// runs the line, not the container's init.
func pidWord(pid int) string {
	if pid == 0 {
		return "$PID"
	}
	return strconv.Itoa(pid)
}

// undoCreateShell is the shell undo of a cgroups-create step: rmdir the
// container's cgroup, then the shared parent only if it is left empty (the
// kernel refuses to remove a cgroup with children or processes, so rmdir is
// safe: never rm -r in cgroupfs).
func undoCreateShell(dirs, parents string) string {
	return "rmdir " + dirs + "\nrmdir " + parents + " 2>/dev/null || true"
}

// shellDirs renders a list of directories compactly for a Shell line:
// /sys/fs/cgroup/{cpu,memory}/minirun/abc when they differ only in the
// hierarchy, space-separated otherwise.
func shellDirs(mounts []string, p string) string {
	if len(mounts) == 1 {
		return filepath.Join(mounts[0], p)
	}
	parent := filepath.Dir(mounts[0])
	names := make([]string, len(mounts))
	for i, m := range mounts {
		if filepath.Dir(m) != parent || strings.ContainsAny(filepath.Base(m), ",{} ") {
			dirs := make([]string, len(mounts))
			for j, m := range mounts {
				dirs[j] = filepath.Join(m, p)
			}
			return strings.Join(dirs, " ")
		}
		names[i] = filepath.Base(m)
	}
	return parent + "/{" + strings.Join(names, ",") + "}" + p
}
