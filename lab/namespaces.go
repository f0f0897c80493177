package lab

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// namespacesLab: after unshare and nsenter by hand, the student runs a
// container named isolado with --hostname isolado and compares its
// namespaces with the host's.
func namespacesLab() *Lab {
	const name, host = "isolado", "isolado"
	var pid int
	return &Lab{
		Name:  "namespaces",
		Title: text("namespaces à mão e com o minirun", "namespaces by hand and with minirun"),
		Checks: []Check{
			{
				What: text("o contêiner isolado está rodando", "container isolado is running"),
				Hint: text("rode: minirun run -d --name isolado --hostname isolado busybox sleep 3600",
					"run: minirun run -d --name isolado --hostname isolado busybox sleep 3600"),
				Run: func(e *Env) error {
					meta, err := e.running(name)
					if err == nil {
						pid = meta.State.Pid
					}
					return err
				},
			},
			{
				What: text("pid, net, mnt, uts e ipc do contêiner são outros, não os do host",
					"the container's pid, net, mnt, uts and ipc namespaces are not the host's"),
				Hint: text("o contêiner compartilha um namespace com o host (--network host? --pid host?): recrie-o sem essas opções",
					"the container shares a namespace with the host (--network host? --pid host?): create it again without them"),
				Run: func(e *Env) error {
					var same []string
					for _, kind := range []string{"pid", "net", "mnt", "uts", "ipc"} {
						mine, err := e.nsLink("self", kind)
						if err != nil {
							return err
						}
						its, err := e.nsLink(strconv.Itoa(pid), kind)
						if err != nil {
							return err
						}
						if mine == its {
							same = append(same, its)
						}
					}
					if len(same) > 0 {
						return fmt.Errorf("iguais aos do host / same as the host's: %s", strings.Join(same, " "))
					}
					return nil
				},
			},
			{
				What: text("lá dentro, o processo do contêiner é o PID 1", "inside, the container's process is PID 1"),
				Hint: text("o init do contêiner deveria ser o PID 1 do seu namespace: veja a linha NSpid de /proc/PID/status",
					"the container's init should be PID 1 of its namespace: see the NSpid line of /proc/PID/status"),
				Run: func(e *Env) error {
					st, err := e.status(pid)
					if err != nil {
						return err
					}
					n, err := nsPid(st)
					if err != nil {
						return err
					}
					if n != 1 {
						return fmt.Errorf("NSpid: %s", st["NSpid"])
					}
					return nil
				},
			},
			{
				What: text("o hostname no namespace UTS do contêiner é isolado", "the hostname in the container's UTS namespace is isolado"),
				Hint: text("crie o contêiner com --hostname isolado (minirun rm -f isolado e rode de novo)",
					"create the container with --hostname isolado (minirun rm -f isolado and run it again)"),
				Run: func(e *Env) error {
					var got string
					err := e.inNamespace(pid, "uts", func() error {
						var u unix.Utsname
						if err := unix.Uname(&u); err != nil {
							return err
						}
						got = unix.ByteSliceToString(u.Nodename[:])
						return nil
					})
					if err != nil {
						return err
					}
					if got != host {
						return fmt.Errorf("hostname %q", got)
					}
					return nil
				},
			},
		},
	}
}
