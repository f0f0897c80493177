package runtime

// The child side: what runs as "minirun init" inside the new namespaces.
// Order matters throughout; each step says why it comes where it does.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// InitArg is the argument that makes the minirun binary (or a test binary)
// behave as a container's init.
const InitArg = "init"

// initConfig is what the parent sends in msgConfig.
type initConfig struct {
	ID     string      `json:"id"`
	Spec   *specs.Spec `json:"spec"`
	Rootfs string      `json:"rootfs"` // absolute path on the host
	Bundle string      `json:"bundle"`
	Trace  bool        `json:"trace"`
	// Exec is set for `minirun exec`: the process already sits in the
	// container's namespaces; only the process steps remain.
	Exec bool `json:"exec,omitempty"`
	// Pdeathsig is restored after the user switch, which clears it
	// (prctl(2), PR_SET_PDEATHSIG).
	Pdeathsig int `json:"pdeathsig,omitempty"`
}

// File descriptors the child inherits (exec.Cmd.ExtraFiles start at 3).
// For exec, fd 4 is the container's mount namespace instead of the FIFO.
const (
	syncFd = 3
	fifoFd = 4
)

// Init is the entry point of the container's init process. It never
// returns: it either execve()s the user's program or exits.
//
// The caller must have locked the main goroutine to the main OS thread in
// an init() function (runtime.LockOSThread), because some of what follows
// (the cgroup namespace, capabilities, PR_SET_KEEPCAPS) belongs to a
// thread, and the thread that calls execve is the one whose state the user's
// program inherits.
func Init() {
	c := &syncConn{fd: syncFd}
	started, err := initMain(c)
	if err == nil {
		os.Exit(0) // unreachable: initMain ends in execve
	}
	code := 1
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	}
	if !started {
		c.send(message{Type: msgError, Error: err.Error(), Code: code})
		os.Exit(1)
	}
	// After ready nobody waits on the socket for errors (create may have
	// returned already): the container's stderr is the place to say it.
	fmt.Fprintf(os.Stderr, "minirun: %v\n", err)
	os.Exit(code)
}

type initState struct {
	cfg    *initConfig
	spec   *specs.Spec
	conn   *syncConn
	tr     *explain.Tracer
	userns bool
	path   string // the resolved program to execve
}

func initMain(c *syncConn) (started bool, err error) {
	m, err := c.expect(msgConfig)
	// The config is read first, so that the parent, which sent it, then
	// reads this error instead of a broken pipe. An init of another
	// build may have read it wrong (see buildToken): nothing else is done.
	if want := os.Getenv(envInitToken); want != buildToken {
		return false, fmt.Errorf("the container's init is of another minirun build (%q, minirun is %q): rebuild minirun with scripts/build.sh", buildToken, want)
	}
	if err != nil {
		return false, fmt.Errorf("wait for config: %w", err)
	}
	in := &initState{cfg: m.Config, spec: m.Config.Spec, conn: c}
	in.userns = hasNS(in.spec, specs.UserNamespace)
	if m.Config.Trace {
		in.tr = explain.New(&remoteSink{c: c})
	}
	if m.Config.Exec {
		return in.execMain()
	}
	if err := in.tr.Run(in.setupPlan(), nil); err != nil {
		return false, err
	}
	// Find the program now, so a typo fails `create` with Docker's exit code
	// 127 instead of a container that dies at start.
	path, err := lookPath(in.spec.Process.Args[0], in.spec.Process.Env)
	if err != nil {
		return false, err
	}
	in.path = path
	if err := checkProcessSupport(in.spec.Process, os.Stderr); err != nil {
		return false, err
	}
	if err := c.send(message{Type: msgReady}); err != nil {
		return false, err
	}
	started = true
	// The last steps are planned (and the seccomp filter compiled) before
	// the wait: after `start`, only their system calls stand between it
	// and the user's program.
	final := in.finalPlan()
	// Block until `minirun start` opens the other end of the FIFO. The
	// FIFO was opened O_PATH by the parent: reopening it through
	// /proc/self/fd works even though its path is outside our new root.
	//
	// The write end stays open, close-on-exec, until the execve of the
	// user's program: `start` reads on until end of file, which comes
	// exactly when that execve succeeds (or the init dies), and only then
	// runs the poststart hooks, which "MUST be called after the
	// user-specified process is executed" (config.md "Poststart"). A raw
	// fd, not an *os.File, whose finalizer could close it early.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return started, fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return started, fmt.Errorf("write exec fifo: %w", err)
	}
	unix.Close(fifoFd)
	return started, in.tr.Run(final, nil)
}

// inInit marks the steps of p as the init's own: they run inside the new
// namespaces, so `explain --shell` runs their Shell in the container's init
// rather than on the host.
func inInit(p explain.Plan) explain.Plan {
	for i := range p {
		p[i].Init = true
	}
	return p
}

// setupPlan is everything between the clone and "ready": namespaces that
// must be entered late, the root filesystem, mounts, identity, terminal.
func (in *initState) setupPlan() explain.Plan {
	s, rootfs := in.spec, in.cfg.Rootfs
	var p explain.Plan
	if hasNS(s, specs.CgroupNamespace) && nsPath(s, specs.CgroupNamespace) == "" {
		p = append(p, explain.Step{
			ID: "ns-cgroup", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Cria o namespace de cgroup", EN: "Create the cgroup namespace"},
			Why: explain.Text{PT: "Feito só agora, já dentro do cgroup do contêiner: assim esse cgroup vira a raiz que ele enxerga.",
				EN: "Done only now, already inside the container's cgroup, so that cgroup becomes the root it sees."},
			Shell: "unshare --cgroup",
			Do:    func() error { return unix.Unshare(unix.CLONE_NEWCGROUP) },
			Evidence: func() string {
				b, _ := os.ReadFile("/proc/self/cgroup")
				return strings.TrimSpace(string(b))
			},
		})
	}
	if hasNS(s, specs.NetworkNamespace) && nsPath(s, specs.NetworkNamespace) == "" {
		p = append(p, explain.Step{
			ID: "ns-loopback", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Liga a interface lo do novo namespace de rede", EN: "Bring up lo in the new network namespace"},
			Why: explain.Text{PT: "Um namespace de rede novo só tem lo, e desligada: sem ela nem 127.0.0.1 funciona.",
				EN: "A new network namespace has only lo, and it is down: without it not even 127.0.0.1 works."},
			Shell: "ip link set lo up",
			Do: func() error {
				lo, err := netlink.LinkByName("lo")
				if err != nil {
					return fmt.Errorf("find lo: %w", err)
				}
				if err := netlink.LinkSetUp(lo); err != nil {
					return fmt.Errorf("set lo up: %w", err)
				}
				return nil
			},
		})
	}
	// Without a mount namespace of its own the container shares the
	// host's (config-linux.md "Namespaces": a type not listed is
	// inherited): no propagation change and no pivot_root, which would
	// change the host's own mounts and root; the config's mounts are made
	// under the rootfs (delete unmounts them, hostmounts.go), then a chroot.
	mntns := hasNS(s, specs.MountNamespace)
	if mntns && chrooted() && nsPath(s, specs.MountNamespace) == "" {
		p = append(p, explain.Step{
			ID: "rootfs-chroot", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Faz da raiz do chroot um ponto de montagem", EN: "Make the chroot's root a mount point"},
			Why: explain.Text{PT: "O minirun roda dentro de um chroot: mudar a propagação de / e pivot_root exigem que a raiz seja um ponto de montagem. O init volta à raiz do seu namespace (setns), torna tudo rslave e monta o diretório do chroot sobre ele mesmo.",
				EN: "minirun runs inside a chroot: changing /'s propagation and pivot_root need the root to be a mount point. The init goes back to its namespace's root (setns), makes everything rslave and binds the chroot directory onto itself."},
			Shell: "nsenter --mount=/proc/self/ns/mnt sh -c 'mount --make-rslave / && mount --rbind $CHROOT $CHROOT' && chroot $CHROOT",
			Do:    rootToMountPoint,
		})
	}
	// rootfsPropagation (config-linux.md "Rootfs Mount Propagation") is
	// the propagation of the container's root. As runc does, it is applied
	// twice: to / before the rootfs is bound (so that a slave root gets a
	// master), and to the new / after pivot_root (the bind of the rootfs is
	// a mount of its own). Before pivot_root a shared or unbindable type is
	// not possible: pivot_root fails when new_root's parent mount is shared,
	// and an unbindable / cannot be bound. minirun's default is rprivate.
	propName := "rprivate"
	if s.Linux.RootfsPropagation != "" {
		propName = s.Linux.RootfsPropagation
	}
	prop, ok := propagationFlags[propName]
	if !ok {
		prop, propName = unix.MS_PRIVATE|unix.MS_REC, "rprivate"
	}
	preName, pre := propName, prop
	if prop&unix.MS_UNBINDABLE != 0 {
		preName, pre = "rprivate", unix.MS_PRIVATE|unix.MS_REC
	}
	if mntns {
		propID := "rootfs-private"
		if s.Linux.RootfsPropagation != "" {
			propID = "rootfs-propagation"
		}
		p = append(p, explain.Step{
			ID: propID, Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Torna as montagens do novo namespace " + preName, EN: "Make the new namespace's mounts " + preName},
			Why: explain.Text{PT: "O / do host costuma ser 'shared': sem isto, cada montagem do contêiner vazaria para o host.",
				EN: "The host's / is usually shared: without this every container mount would leak to the host."},
			Shell: "mount --make-" + preName + " /",
			Do: func() error {
				if err := unix.Mount("", "/", "", pre, ""); err != nil {
					return fmt.Errorf("make / %s: %w", preName, err)
				}
				return nil
			},
		})
		if s.Linux.RootfsPropagation != "" {
			// Only / was changed above (or all of it, for the r- types): the
			// mount the rootfs lies on may still be shared.
			parent, parentName := uintptr(unix.MS_PRIVATE), "private"
			if pre&unix.MS_SLAVE != 0 {
				parent, parentName = unix.MS_SLAVE, "slave"
			}
			p = append(p, explain.Step{
				ID: "rootfs-parent-private", Chapter: explain.ChapterRootfs,
				Title: explain.Text{PT: "Tira a propagação compartilhada da montagem onde está o rootfs", EN: "Take shared propagation off the mount the rootfs lies on"},
				Why: explain.Text{PT: "Se ela for compartilhada, o bind do rootfs se propagaria para o host, e pivot_root recusa (EINVAL) uma nova raiz cuja montagem-mãe é compartilhada.",
					EN: "If it is shared, the bind of the rootfs would propagate to the host, and pivot_root refuses (EINVAL) a new root whose parent mount is shared."},
				Shell: "mount --make-" + parentName + " $(findmnt -n -o TARGET -T $ROOTFS)   # se shared / if shared",
				Do:    func() error { return unshareParentMount(rootfs, parent) },
			})
		}
		p = append(p, explain.Step{
			ID: "rootfs-bind", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Faz do rootfs um ponto de montagem", EN: "Make the rootfs a mount point"},
			Why: explain.Text{PT: "pivot_root exige que a nova raiz seja um ponto de montagem: um bind dela sobre ela mesma resolve.",
				EN: "pivot_root needs the new root to be a mount point: binding it onto itself makes it one."},
			Shell: "mount --rbind $ROOTFS $ROOTFS",
			Do: func() error {
				if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
					return fmt.Errorf("bind rootfs %s: %w", rootfs, err)
				}
				return nil
			},
		})
	}
	devTmpfs, devpts := false, false
	for _, m := range s.Mounts {
		p = append(p, mountStep(rootfs, m))
		if m.Destination == "/dev" && m.Type == "tmpfs" {
			devTmpfs = true
		}
		if m.Type == "devpts" {
			devpts = true
		}
	}
	if devTmpfs {
		devs := append(append([]specs.LinuxDevice{}, defaultDevices...), s.Linux.Devices...)
		p = append(p, explain.Step{
			ID: "mounts-devices", Chapter: explain.ChapterMounts,
			Title: explain.Text{PT: "Cria os nós de dispositivo em /dev", EN: "Create the device nodes in /dev"},
			Why: explain.Text{PT: "Só null, zero, full, random, urandom, tty e os pedidos: nenhum disco do host aparece.",
				EN: "Only null, zero, full, random, urandom, tty and those asked for: no host disk shows up."},
			Shell: "mknod -m 666 $ROOTFS/dev/null c 1 3   # e zero, full, random, urandom, tty",
			Do:    func() error { return createDevices(rootfs, devs, in.userns) },
			Evidence: func() string {
				ents, _ := os.ReadDir(filepath.Join(rootfs, "dev"))
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				return "/dev: " + strings.Join(names, " ")
			},
		}, explain.Step{
			ID: "mounts-dev-symlinks", Chapter: explain.ChapterMounts,
			Title: explain.Text{PT: "Cria os links /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr", EN: "Create the /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr links"},
			Why: explain.Text{PT: "Programas esperam esses caminhos; eles apontam para /proc/self/fd.",
				EN: "Programs expect these paths; they point into /proc/self/fd."},
			Shell: "ln -s /proc/self/fd $ROOTFS/dev/fd",
			Do:    func() error { return createDevSymlinks(rootfs, devpts) },
		})
	}
	if h := s.Hooks; h != nil && (len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 || len(h.CreateContainer) > 0) {
		p = append(p, explain.Step{
			ID: "lifecycle-hooks", Chapter: explain.ChapterLifecycle,
			Title: explain.Text{PT: "Executa os hooks prestart, createRuntime e createContainer", EN: "Run the prestart, createRuntime and createContainer hooks"},
			Why: explain.Text{PT: "A especificação OCI marca este momento: namespaces prontos, antes do pivot_root.",
				EN: "The OCI spec fixes this moment: namespaces ready, before pivot_root."},
			Shell: "echo \"$STATE_JSON\" | /path/to/hook",
			Do:    in.createHooks,
		})
	}
	if s.Process.Cwd != "/" {
		p = append(p, explain.Step{
			ID: "process-cwd", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Garante que o diretório de trabalho " + s.Process.Cwd + " existe", EN: "Make sure the working directory " + s.Process.Cwd + " exists"},
			Why: explain.Text{PT: "Como no Docker, um -w que a imagem não tem é criado, dentro do rootfs.",
				EN: "As in Docker, a -w the image lacks is created, inside the rootfs."},
			Shell: "mkdir -p $ROOTFS" + s.Process.Cwd,
			Do: func() error {
				dir, err := securejoin.SecureJoin(rootfs, s.Process.Cwd)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("create cwd %s: %w", s.Process.Cwd, err)
				}
				return nil
			},
		})
	}
	if !mntns {
		p = append(p, explain.Step{
			ID: "rootfs-chroot-host-ns", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Sem namespace de montagem: chroot no rootfs", EN: "No mount namespace: chroot into the rootfs"},
			Why: explain.Text{PT: "pivot_root trocaria a raiz do host inteiro; sem um namespace próprio, o init só muda a sua raiz (e a dos filhos).",
				EN: "pivot_root would change the whole host's root; without a namespace of its own the init changes only its own root (and its children's)."},
			Shell: "chroot $ROOTFS",
			Do: func() error {
				if err := unix.Chdir(rootfs); err != nil {
					return fmt.Errorf("chdir %s: %w", rootfs, err)
				}
				if err := unix.Chroot("."); err != nil {
					return fmt.Errorf("chroot %s: %w", rootfs, err)
				}
				return unix.Chdir("/")
			},
		})
	}
	if mntns {
		p = append(p, explain.Step{
			ID: "rootfs-pivot-root", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Troca a raiz com pivot_root", EN: "Switch the root with pivot_root"},
			Why: explain.Text{PT: "Diferente do chroot, pivot_root troca a raiz do namespace inteiro, e a antiga pode ser desmontada.",
				EN: "Unlike chroot, pivot_root changes the root of the whole namespace, and the old one can be unmounted."},
			Shell: "cd $ROOTFS && pivot_root . .",
			Do: func() error {
				// pivot_root(".", ".") stacks the old root on top of the new
				// one at the same place, so no put_old directory is needed in
				// the image (pivot_root(2), NOTES; runc uses the same trick).
				if err := unix.Chdir(rootfs); err != nil {
					return fmt.Errorf("chdir %s: %w", rootfs, err)
				}
				if err := unix.PivotRoot(".", "."); err != nil {
					return fmt.Errorf("pivot_root %s: %w", rootfs, err)
				}
				return nil
			},
		}, explain.Step{
			ID: "rootfs-detach-oldroot", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Desmonta a raiz antiga (a do host)", EN: "Detach the old root (the host's)"},
			Why: explain.Text{PT: "Depois disto os arquivos do host ficam inalcançáveis de dentro do contêiner.",
				EN: "After this the host's files are out of reach from inside the container."},
			Shell: "mount --make-rslave . && umount -l .",
			Do: func() error {
				// Make the old root a slave first so that detaching it does
				// not propagate the unmount back to the host.
				if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
					return fmt.Errorf("make old root rslave: %w", err)
				}
				if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
					return fmt.Errorf("detach old root: %w", err)
				}
				return unix.Chdir("/")
			},
			Evidence: func() string {
				ents, _ := os.ReadDir("/")
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				return "ls /: " + strings.Join(names, " ")
			},
		})
	}
	if mntns && prop&(unix.MS_SHARED|unix.MS_SLAVE|unix.MS_UNBINDABLE) != 0 {
		p = append(p, explain.Step{
			ID: "rootfs-propagation-root", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Torna a nova raiz " + propName, EN: "Make the new root " + propName},
			Why: explain.Text{PT: "O bind do rootfs é uma montagem nova: a propagação pedida em rootfsPropagation vale para ela, agora que é o /.",
				EN: "The bind of the rootfs is a new mount: the propagation rootfsPropagation asks for applies to it, now that it is /."},
			Shell: "mount --make-" + propName + " /",
			Do: func() error {
				if err := unix.Mount("", "/", "", prop, ""); err != nil {
					return fmt.Errorf("make / %s: %w", propName, err)
				}
				return nil
			},
		})
	}
	if s.Hostname != "" {
		p = append(p, explain.Step{
			ID: "ns-hostname", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Define o hostname: " + s.Hostname, EN: "Set the hostname: " + s.Hostname},
			Why: explain.Text{PT: "O namespace uts dá ao contêiner um nome próprio sem mudar o do host.",
				EN: "The uts namespace gives the container a name of its own without changing the host's."},
			Shell: "hostname " + s.Hostname,
			Do:    func() error { return unix.Sethostname([]byte(s.Hostname)) },
			Evidence: func() string {
				h, _ := os.Hostname()
				return "uname -n: " + h
			},
		})
	}
	if s.Domainname != "" {
		p = append(p, explain.Step{
			ID: "ns-domainname", Chapter: explain.ChapterNamespaces,
			Title: explain.Text{PT: "Define o domainname: " + s.Domainname, EN: "Set the domainname: " + s.Domainname},
			Why:   explain.Text{PT: "Também faz parte do namespace uts.", EN: "Also part of the uts namespace."},
			Shell: "domainname " + s.Domainname,
			Do:    func() error { return unix.Setdomainname([]byte(s.Domainname)) },
		})
	}
	if len(s.Linux.Sysctl) > 0 {
		p = append(p, explain.Step{
			ID: "process-sysctl", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Aplica sysctls do namespace", EN: "Apply namespaced sysctls"},
			Why: explain.Text{PT: "Antes de /proc/sys ficar somente leitura; valem só para os namespaces do contêiner.",
				EN: "Before /proc/sys turns read-only; they apply to the container's namespaces only."},
			Shell: "sysctl -w KEY=VALUE",
			Do: func() error {
				for k, v := range s.Linux.Sysctl {
					path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
					if err := os.WriteFile(path, []byte(v), 0); err != nil {
						return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
					}
				}
				return nil
			},
		})
	}
	if len(s.Linux.ReadonlyPaths) > 0 {
		p = append(p, explain.Step{
			ID: "mounts-readonly-paths", Chapter: explain.ChapterMounts,
			Title: explain.Text{PT: "Torna somente leitura: " + strings.Join(s.Linux.ReadonlyPaths, " "), EN: "Make read-only: " + strings.Join(s.Linux.ReadonlyPaths, " ")},
			Why: explain.Text{PT: "Por eles o contêiner poderia mudar o kernel do host (ex.: /proc/sys, /proc/sysrq-trigger).",
				EN: "Through them the container could change the host's kernel (e.g. /proc/sys, /proc/sysrq-trigger)."},
			Shell: "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys",
			Do: func() error {
				for _, path := range s.Linux.ReadonlyPaths {
					if err := readonlyPath(path); err != nil {
						return err
					}
				}
				return nil
			},
		})
	}
	if len(s.Linux.MaskedPaths) > 0 {
		p = append(p, explain.Step{
			ID: "mounts-masked-paths", Chapter: explain.ChapterMounts,
			Title: explain.Text{PT: "Esconde caminhos sensíveis: " + strings.Join(s.Linux.MaskedPaths, " "), EN: "Mask sensitive paths: " + strings.Join(s.Linux.MaskedPaths, " ")},
			Why: explain.Text{PT: "/dev/null por cima de arquivos e tmpfs vazio por cima de diretórios: leem-se vazios.",
				EN: "/dev/null over files and an empty tmpfs over directories: they read as empty."},
			Shell: "mount --bind /dev/null /proc/kcore",
			Do: func() error {
				for _, path := range s.Linux.MaskedPaths {
					if err := maskPath(path); err != nil {
						return err
					}
				}
				return nil
			},
		})
	}
	if s.Root.Readonly {
		p = append(p, explain.Step{
			ID: "rootfs-readonly", Chapter: explain.ChapterRootfs,
			Title: explain.Text{PT: "Remonta / como somente leitura", EN: "Remount / read-only"},
			Why: explain.Text{PT: "Feito por último: as montagens acima precisavam criar pontos de montagem.",
				EN: "Done last: the mounts above needed to create mount points."},
			Shell: "mount -o remount,bind,ro /",
			Do:    func() error { return remount("/", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY) },
		})
	}
	if s.Process.OOMScoreAdj != nil {
		adj := strconv.Itoa(*s.Process.OOMScoreAdj)
		p = append(p, explain.Step{
			ID: "process-oom-score", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Ajusta oom_score_adj para " + adj, EN: "Set oom_score_adj to " + adj},
			Why: explain.Text{PT: "Diz ao OOM killer quem matar primeiro quando a memória acaba.",
				EN: "Tells the OOM killer whom to kill first when memory runs out."},
			Shell: "echo " + adj + " > /proc/self/oom_score_adj",
			Do:    func() error { return os.WriteFile("/proc/self/oom_score_adj", []byte(adj), 0) },
		})
	}
	if s.Process.Terminal {
		p = append(p, explain.Step{
			ID: "process-console", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Cria o terminal (pty) do contêiner", EN: "Create the container's terminal (pty)"},
			Why: explain.Text{PT: "O lado escravo vira stdin/stdout/stderr; o mestre vai para quem chamou, pelo socket.",
				EN: "The slave side becomes stdin/stdout/stderr; the master goes to the caller over the socket."},
			Shell: "script -q /dev/null   # abre /dev/ptmx e usa /dev/pts/N",
			Do:    in.setupConsole,
		})
	}
	return inInit(p)
}

// finalPlan runs after `minirun start`: the hooks of that moment, then the
// process's limits and credentials, then execve. Credentials come last
// because after setuid minirun itself may no longer be allowed to do the
// rest.
func (in *initState) finalPlan() explain.Plan {
	s := in.spec
	proc := s.Process
	var p explain.Plan
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		p = append(p, explain.Step{
			ID: "lifecycle-hooks", Chapter: explain.ChapterLifecycle,
			Title: explain.Text{PT: "Executa os hooks startContainer", EN: "Run the startContainer hooks"},
			Why: explain.Text{PT: "Dentro do contêiner, logo antes do programa do usuário.",
				EN: "Inside the container, right before the user's program."},
			Shell: "echo \"$STATE_JSON\" | /path/to/hook",
			Do: func() error {
				return runHooks(s.Hooks.StartContainer, in.stateJSON(Running, os.Getpid()), "startContainer")
			},
		})
	}
	if len(proc.Rlimits) > 0 {
		p = append(p, explain.Step{
			ID: "process-rlimits", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Aplica os limites (rlimits)", EN: "Apply the resource limits (rlimits)"},
			Why: explain.Text{PT: "Limites por processo que sobrevivem ao execve, como o número de arquivos abertos.",
				EN: "Per-process limits that survive execve, such as the number of open files."},
			Shell: prlimitShell(proc.Rlimits),
			Do:    func() error { return setRlimits(proc.Rlimits) },
		})
	}
	if proc.NoNewPrivileges {
		p = append(p, explain.Step{
			ID: "process-no-new-privs", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Liga no_new_privs", EN: "Turn on no_new_privs"},
			Why: explain.Text{PT: "Nenhum execve daqui em diante ganha privilégios (setuid, capabilities de arquivo).",
				EN: "No execve from here on can gain privileges (setuid bits, file capabilities)."},
			Shell: "setpriv --no-new-privs",
			Do:    func() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
			Evidence: func() string {
				return statusLine("NoNewPrivs")
			},
		})
	}
	if sc := s.Linux.Seccomp; sc != nil && !proc.NoNewPrivileges {
		// Without no_new_privs the kernel allows a filter only to a holder
		// of CAP_SYS_ADMIN: load it before the capabilities are dropped.
		p = append(p, seccomp.Step(sc))
	}
	if proc.ApparmorProfile != "" {
		profile := proc.ApparmorProfile
		p = append(p, explain.Step{
			ID: "security-apparmor", Chapter: explain.ChapterSecurity,
			Title: explain.Text{PT: "Pede o perfil AppArmor " + profile + " para o execve", EN: "Ask for AppArmor profile " + profile + " at execve"},
			Why: explain.Text{PT: "O kernel troca de perfil no próximo execve: o programa do usuário já nasce confinado.",
				EN: "The kernel switches profile at the next execve: the user's program starts confined."},
			Shell: "echo 'exec " + profile + "' > /proc/self/attr/apparmor/exec",
			Do: func() error {
				// Newer kernels have the LSM-specific file; older ones only
				// the shared /proc/self/attr/exec (apparmor(7)).
				path := "/proc/self/attr/apparmor/exec"
				if _, err := os.Stat(path); err != nil {
					path = "/proc/self/attr/exec"
				}
				if err := os.WriteFile(path, []byte("exec "+profile), 0); err != nil {
					return fmt.Errorf("apparmor profile %s: %w", profile, err)
				}
				return nil
			},
		})
	}
	if label := proc.SelinuxLabel; label != "" {
		p = append(p, explain.Step{
			ID: "security-apparmor", Chapter: explain.ChapterSecurity,
			Title: explain.Text{PT: "Pede o rótulo SELinux " + label + " para o execve", EN: "Ask for SELinux label " + label + " at execve"},
			Why: explain.Text{PT: "Como o perfil AppArmor: o programa do usuário já nasce com o rótulo.",
				EN: "Like the AppArmor profile: the user's program starts with the label."},
			Shell: "echo '" + label + "' > /proc/self/attr/exec",
			Do: func() error {
				if err := os.WriteFile("/proc/self/attr/exec", []byte(label), 0); err != nil {
					return fmt.Errorf("selinux label %s: %w", label, err)
				}
				return nil
			},
		})
	}
	u := proc.User
	p = append(p, explain.Step{
		ID: "process-user", Chapter: explain.ChapterProcess,
		Title: explain.Text{PT: fmt.Sprintf("Troca para uid %d gid %d", u.UID, u.GID), EN: fmt.Sprintf("Switch to uid %d gid %d", u.UID, u.GID)},
		Why: explain.Text{PT: "Grupos, depois gid, depois uid: depois do setuid não seria mais permitido trocar o gid.",
			EN: "Groups, then gid, then uid: after setuid changing the gid would no longer be allowed."},
		Shell: fmt.Sprintf("setpriv --reuid %d --regid %d --init-groups", u.UID, u.GID),
		Do: func() error {
			if err := setUser(u, in.userns); err != nil {
				return err
			}
			if sig := in.cfg.Pdeathsig; sig != 0 {
				return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0)
			}
			return nil
		},
		Evidence: func() string {
			return statusLine("Uid") + "; " + statusLine("Gid")
		},
	})
	if proc.Capabilities != nil {
		var capsBefore string
		p = append(p, explain.Step{
			ID: "process-capabilities", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Reduz as capabilities", EN: "Drop capabilities"},
			Why: explain.Text{PT: "Root no contêiner não é root de verdade: só fica com as capabilities listadas, nos cinco conjuntos.",
				EN: "Root in the container is not real root: it keeps only the listed capabilities, in all five sets."},
			Shell: "capsh --drop=cap_sys_admin,… --   # capsh --decode=<CapEff>",
			Do: func() error {
				capsBefore = statusLine("CapEff")
				return applyCaps(proc.Capabilities, os.Stderr)
			},
			EvidenceText: func() explain.Text {
				after, bnd := statusLine("CapEff"), statusLine("CapBnd")
				return explain.Text{PT: "antes " + capsBefore + " → depois " + after + "; " + bnd,
					EN: "before " + capsBefore + " → after " + after + "; " + bnd}
			},
		})
	}
	if sc := s.Linux.Seccomp; sc != nil && proc.NoNewPrivileges {
		// Last before execve: from here on minirun's own syscalls are
		// filtered too, and with no_new_privs no capability is needed.
		p = append(p, seccomp.Step(sc))
	}
	p = append(p, explain.Step{
		ID: "process-cwd", Chapter: explain.ChapterProcess,
		Title: explain.Text{PT: "Entra no diretório de trabalho " + proc.Cwd, EN: "Change to the working directory " + proc.Cwd},
		Why: explain.Text{PT: "Depois da troca de usuário, para valerem as permissões dele.",
			EN: "After the user switch, so the user's permissions apply."},
		Shell: "cd " + proc.Cwd,
		Do: func() error {
			if err := unix.Chdir(proc.Cwd); err != nil {
				return fmt.Errorf("chdir to cwd %s: %w", proc.Cwd, err)
			}
			return nil
		},
	}, explain.Step{
		ID: "process-exec", Chapter: explain.ChapterProcess,
		Title: explain.Text{PT: "execve: o programa do usuário substitui o minirun", EN: "execve: the user's program replaces minirun"},
		Why: explain.Text{PT: "Mesmo pid (1 no namespace), namespaces, cgroups e limites: só o programa muda.",
			EN: "Same pid (1 in the namespace), namespaces, cgroups and limits: only the program changes."},
		Shell: "exec " + strings.Join(proc.Args, " "),
		Do: func() error {
			// Only stdio may reach the user's program: fds minirun's own
			// caller leaked to it (not close-on-exec) must not, or the
			// container could reach host files through them. runc does
			// the same (CloseExecFrom; CVE-2024-21626 was a leaked fd).
			if err := closeExecFrom(3); err != nil {
				return err
			}
			// Close the sync socket: after this the parent reads EOF,
			// which tells a narrating `run` that the program started.
			unix.Close(syncFd)
			// The soft rlimits go last (setRlimits explains why).
			if err := lowerSoftRlimits(proc.Rlimits); err != nil {
				return err
			}
			// The user's program starts with no signal blocked, as with
			// Docker. (An exec into a user namespace reaches here with
			// every signal blocked by the fork: see forkuserns.go.)
			if err := unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil); err != nil {
				return fmt.Errorf("clear the signal mask: %w", err)
			}
			err := unix.Exec(in.path, proc.Args, proc.Env)
			return execError(proc.Args[0], err)
		},
	})
	return inInit(p)
}

// createHooks asks the parent to run prestart and createRuntime hooks (in
// the runtime's namespaces), then runs the createContainer hooks here, in
// the container's namespaces but before pivot_root (config.md "Hooks").
func (in *initState) createHooks() error {
	if err := in.conn.send(message{Type: msgHooks}); err != nil {
		return err
	}
	if _, err := in.conn.expect(msgAck); err != nil {
		return err
	}
	if len(in.spec.Hooks.CreateContainer) == 0 {
		return nil
	}
	return runHooks(in.spec.Hooks.CreateContainer, in.stateJSON(Creating, os.Getpid()), "createContainer")
}

func (in *initState) stateJSON(st Status, pid int) []byte {
	return stateJSON(in.cfg.ID, st, pid, in.cfg.Bundle, in.spec.Annotations)
}

// statusLine returns one "Key:\tvalue" line of /proc/self/status.
func statusLine(key string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key+":") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

func nsPath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

// lookPath finds the program as a shell would, with the container's PATH,
// inside the container's root. Errors carry Docker's exit codes.
func lookPath(file string, env []string) (string, error) {
	check := func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return unix.EACCES
		}
		return nil
	}
	if strings.Contains(file, "/") {
		if err := check(file); err != nil {
			return "", execError(file, err)
		}
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	denied := ""
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		err := check(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, unix.EACCES) && denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", execError(denied, unix.EACCES)
	}
	return "", &ExitError{Code: 127, Err: fmt.Errorf("exec: %q: executable file not found in $PATH", file)}
}

// execError turns an execve failure into Docker's exit codes.
func execError(file string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return &ExitError{Code: 127, Err: fmt.Errorf("exec: %q: no such file or directory", file)}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOEXEC):
		return &ExitError{Code: 126, Err: fmt.Errorf("exec: %q: permission denied", file)}
	}
	return &ExitError{Code: 126, Err: fmt.Errorf("exec: %q: %w", file, err)}
}

// closeExecFrom marks every open fd >= min close-on-exec.
func closeExecFrom(min int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < min {
			continue
		}
		// The directory's own fd is gone by now: EBADF is fine.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("set close-on-exec on fd %d: %w", fd, err)
		}
	}
	return nil
}

// execMain is `minirun exec`'s side of the init: the parent started this
// process from a thread that had joined the container's namespaces, and
// placed it in the container's cgroup; what is left is the terminal, then
// the same limits, credentials and execve as the container's own process.
func (in *initState) execMain() (bool, error) {
	if err := in.tr.Do(explain.Step{
		ID: "ns-join", Chapter: explain.ChapterNamespaces,
		Title: explain.Text{PT: "exec: entra no namespace de montagem do contêiner", EN: "exec: join the container's mount namespace"},
		Why: explain.Text{PT: "Por último e nesta thread: depois dele, / e /proc são os do contêiner.",
			EN: "Last, and on this thread: after it, / and /proc are the container's."},
		Shell: "nsenter --mount=/proc/$PID/ns/mnt",
		Do: func() error {
			// setns into a mount namespace needs a thread that shares no
			// filesystem information (root, cwd) with other threads.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare CLONE_FS: %w", err)
			}
			if err := unix.Setns(fifoFd, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("setns mount namespace: %w", err)
			}
			return unix.Close(fifoFd)
		},
	}, nil); err != nil {
		return false, err
	}
	if in.spec.Process.Terminal {
		if err := in.tr.Do(explain.Step{
			ID: "process-console", Chapter: explain.ChapterProcess,
			Title: explain.Text{PT: "Cria o terminal (pty) do exec", EN: "Create the exec's terminal (pty)"},
			Why: explain.Text{PT: "Do devpts do próprio contêiner; o mestre vai para o minirun.",
				EN: "From the container's own devpts; the master goes to minirun."},
			Shell: "script -q /dev/null",
			Do:    in.setupConsole,
		}, nil); err != nil {
			return false, err
		}
	}
	path, err := lookPath(in.spec.Process.Args[0], in.spec.Process.Env)
	if err != nil {
		return false, err
	}
	in.path = path
	if err := in.conn.send(message{Type: msgReady}); err != nil {
		return false, err
	}
	s := *in.spec
	s.Hooks = nil // startContainer hooks belong to the container's start only
	in.spec = &s
	return true, in.tr.Run(in.finalPlan(), nil)
}
