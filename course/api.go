package course

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minirun/minirun/container"
	"github.com/minirun/minirun/daemon"
	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/internal/cleanup"
)

func init() {
	register(&Chapter{
		Name: explain.ChapterAPI,
		// The requests, and beneath each what the daemon does for it: the
		// rootfs of create, the cgroup and the network of start.
		Shows: []explain.Chapter{explain.ChapterComponents, explain.ChapterRootfs, explain.ChapterCgroups, explain.ChapterNetwork},
		// Of those, what tells the story: the rootfs of create; the
		// address, the cgroup and the veth of start. The one-time setup
		// of the bridge and the cgroup's many writes are their chapters'.
		Keep: map[string]bool{"rootfs-overlay-mount": true, "network-ipam": true, "cgroups-create": true,
			"cgroups-add-process": true, "network-veth": true, "network-addr": true},
		Live: func(e *Env, tr *explain.Tracer) (int, error) {
			client, err := DockerClient()
			if err != nil {
				return -1, err
			}
			return 0, apiScenario(e, tr, client)
		},
		DryRun: func(e *Env, tr *explain.Tracer) error { return apiScenario(e, tr, "docker") },
	})
}

// DockerClient is the docker client the api chapter runs: Debian's
// (/usr/bin/docker, 20.10, API 1.41), or the first on PATH.
func DockerClient() (string, error) {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker", nil
	}
	p, err := exec.LookPath("docker")
	if err != nil {
		return "", errors.New("explain api: no docker client (Debian's docker.io package has one; its dockerd stays stopped)")
	}
	return p, nil
}

// apiRequests are the requests each docker command of the chapter sends,
// as Debian's client (20.10) sends them: what a dry run describes in
// place of the requests a live run narrates as they come.
var apiRequests = map[string][][2]string{
	"version": {{"HEAD", "/_ping"}, {"GET", "/v1.41/version"}},
	"run": {{"HEAD", "/_ping"}, {"POST", "/v1.41/containers/create?name=$NAME"},
		{"POST", "/v1.41/containers/$ID/attach?stderr=1&stdout=1&stream=1"},
		{"POST", "/v1.41/containers/$ID/wait?condition=removed"}, {"POST", "/v1.41/containers/$ID/start"}},
	"ps": {{"HEAD", "/_ping"}, {"GET", "/v1.41/containers/json?all=1&filters=$FILTER"}},
}

// apiScenario starts minirun's daemon on a socket of its own, in this
// process (the code `minirun daemon` runs), and runs the real docker
// client against it: docker version, docker run --rm, and a run whose
// process chain it shows while it lives, then docker ps -a. Each request
// the daemon serves is narrated by the daemon itself (daemon/trace.go),
// with the daemon's steps for it beneath; the chapter narrates only the
// client's side. A dry run (client "docker", no containers) describes the
// requests each command sends instead.
func apiScenario(e *Env, tr *explain.Tracer, client string) (retErr error) {
	live := !tr.DryRun()
	self := os.Getpid()
	tag := strconv.Itoa(self)
	var undo cleanup.Stack
	defer func() { retErr = errors.Join(retErr, undo.Run()) }()

	dir := "/tmp/minirun-api." + tag
	if live {
		var err error
		if dir, err = os.MkdirTemp("", "minirun-api."); err != nil {
			return err
		}
		undo.Add("remove "+dir, func() error { return os.RemoveAll(dir) })
	}
	sock := filepath.Join(dir, "docker.sock")
	l, err := daemon.Listen("unix://"+sock, tr, &undo)
	if err != nil {
		return err
	}
	// narrating is held by the daemon while it narrates a request and by
	// the chapter around its own steps: the two never interleave.
	var narrating sync.Mutex
	served := make(chan error, 1)
	err = tr.Do(explain.Step{
		ID: "components-api-serve", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "O daemon atende a API do Docker no socket", EN: "The daemon serves Docker's API on the socket"},
		Why: explain.Text{PT: "É o código do minirun daemon, aqui neste processo: cada pedido chama os mesmos pacotes que o CLI chama.",
			EN: "It is minirun daemon's code, here in this process: each request calls the packages the CLI calls."},
		Shell: "minirun daemon -H unix://" + sock + " &",
		Do: func() error {
			d := daemon.New(daemon.Config{Containers: e.Containers, Version: e.version(), Trace: tr, TraceLock: &narrating})
			go func() { served <- d.Serve(l) }()
			return nil
		},
		// Closing the listener ends Serve; no client is left by then.
		Undo:     func() error { l.Close(); return <-served },
		Evidence: func() string { return psLine(self) },
	}, &undo)
	if err != nil {
		return err
	}
	env := append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+filepath.Join(dir, "config"),
		"DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_CONTEXT=")
	// docker runs one command: its step, the requests the daemon
	// narrates as they come (described, in a dry run), then its answer.
	docker := func(kind string, args ...string) (string, error) {
		shell := "DOCKER_HOST=unix://" + sock + " docker " + shellJoin(args)
		cmd := exec.Command(client, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		narrating.Lock()
		err := tr.Do(clientStep(shell, cmd, live), nil)
		narrating.Unlock()
		if err != nil {
			return "", err
		}
		if !live {
			for _, r := range apiRequests[kind] {
				if err := tr.Do(daemon.RequestStep(r[0], r[1], sock), nil); err != nil {
					return "", err
				}
			}
		}
		werr := cmd.Wait()
		if !live {
			werr = nil
		}
		narrating.Lock()
		defer narrating.Unlock()
		return out.String(), tr.Do(answerStep(&out, werr), nil)
	}
	if _, err := docker("version", "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"); err != nil {
		return err
	}
	name := "api-" + tag
	if _, err := docker("run", "run", "--rm", "--name", name, e.Image, "echo", "busybox", "ok"); err != nil {
		return err
	}
	if err := apiChain(e, tr, client, env, sock, &narrating, &undo); err != nil {
		return err
	}
	_, err = docker("ps", "ps", "-a", "--filter", "name=api-"+tag, "--format", "{{.Names}} {{.Status}}")
	return err
}

// clientStep starts the docker client: its requests follow.
func clientStep(shell string, cmd *exec.Cmd, live bool) explain.Step {
	return explain.Step{
		ID: "components-api-client", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "O cliente: docker " + shellJoin(cmd.Args[1:]), EN: "The client: docker " + shellJoin(cmd.Args[1:])},
		Why: explain.Text{PT: "O docker não cria nada: ele traduz o comando em pedidos HTTP ao daemon, pelo socket do DOCKER_HOST.",
			EN: "docker creates nothing: it turns the command into HTTP requests to the daemon, over DOCKER_HOST's socket."},
		Shell: shell,
		Do: func() error {
			if !live {
				return nil
			}
			return cmd.Start()
		},
		// From what was started, not /proc: a short command may be gone.
		Evidence: func() string {
			return fmt.Sprintf("pid %d ppid %d: %s", cmd.Process.Pid, os.Getpid(), shellJoin(cmd.Args))
		},
	}
}

// answerStep shows what the client printed once its last answer came.
func answerStep(out *bytes.Buffer, werr error) explain.Step {
	return explain.Step{
		ID: "components-api-answer", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "O cliente mostra a resposta e sai", EN: "The client prints the answer and exits"},
		Why: explain.Text{PT: "O que o docker escreve vem do JSON das respostas, nos tipos da API do próprio Docker.",
			EN: "What docker prints comes from the answers' JSON, in the types of Docker's own API."},
		Shell: "echo $?",
		Do: func() error {
			if werr != nil {
				return fmt.Errorf("docker: %w: %s", werr, strings.TrimSpace(out.String()))
			}
			return nil
		},
		EvidenceText: func() explain.Text {
			s := strings.TrimSpace(out.String())
			if s == "" {
				return explain.Text{PT: "(nada escrito: nenhum contêiner restou)", EN: "(nothing printed: no container is left)"}
			}
			return explain.Text{PT: s, EN: s}
		},
	}
}

// apiChain runs `docker run --rm busybox sleep` and, while the client
// still waits for it, shows the chain of processes with their real pids:
// the client, the daemon (this process), the container's shim and its
// init. The client and the container end by themselves; should the
// chapter stop first, the undo kills the client and removes the container.
func apiChain(e *Env, tr *explain.Tracer, client string, env []string, sock string, narrating sync.Locker, undo *cleanup.Stack) error {
	name := "api-chain-" + strconv.Itoa(os.Getpid())
	args := []string{"run", "--rm", "--name", name, e.Image, "sleep", "3"}
	cmd := exec.Command(client, args...)
	cmd.Env = env
	live := !tr.DryRun()
	narrating.Lock()
	err := tr.Do(clientStep("DOCKER_HOST=unix://"+sock+" docker "+shellJoin(args), cmd, live), nil)
	narrating.Unlock()
	if err != nil {
		return err
	}
	var meta *container.Meta
	if live {
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		undo.Add("end "+name, func() error {
			cmd.Process.Kill()
			<-exited
			if err := e.Containers.Remove(name, true); err != nil && !errors.Is(err, container.ErrNotFound) {
				return err
			}
			return nil
		})
		// The requests go on while this waits (with --pause, as long as
		// the projector's Enter takes).
		for meta == nil {
			select {
			case err := <-exited:
				exited <- err
				return fmt.Errorf("docker run ended before its container ran: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			if m, err := e.Containers.Get(name); err == nil && m.State.Running && m.State.Pid > 0 {
				meta = m
			}
		}
		defer func() { <-exited; exited <- nil }()
	} else {
		for _, r := range apiRequests["run"] {
			if err := tr.Do(daemon.RequestStep(r[0], r[1], sock), nil); err != nil {
				return err
			}
		}
	}
	narrating.Lock()
	defer narrating.Unlock()
	return tr.Do(explain.Step{
		ID: "components-api-chain", Chapter: explain.ChapterComponents,
		Title: explain.Text{PT: "A cadeia: cliente → daemon → shim → init", EN: "The chain: client → daemon → shim → init"},
		Why: explain.Text{PT: "O cliente só espera; o daemon atende; o shim, numa sessão própria, segura o contêiner, que sobrevive ao daemon.",
			EN: "The client only waits; the daemon serves; the shim, in a session of its own, holds the container, which outlives the daemon."},
		Shell: "ps -o pid,ppid,sid,args -p $(pgrep -d, -f 'docker run|minirun')",
		EvidenceText: func() explain.Text {
			init := meta.State.Pid
			shim := ppidOf(init)
			ps := psLine(cmd.Process.Pid) + "\n" + psLine(os.Getpid()) + "\n" + psLine(shim) + "\n" + psLine(init)
			return explain.Text{
				PT: ps + "\n(cliente; daemon, este processo; shim, filho do daemon numa sessão própria, que sobrevive a ele; init do contêiner, filho do shim)",
				EN: ps + "\n(client; daemon, this process; shim, the daemon's child in a session of its own, which outlives it; container init, the shim's child)",
			}
		},
	}, nil)
}

// version is what the chapter's daemon reports as its release.
func (e *Env) version() string {
	if e.Version != "" {
		return e.Version
	}
	return "dev"
}

// shellJoin writes args as a shell line, quoting those a shell would split.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " {}$'\"*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
