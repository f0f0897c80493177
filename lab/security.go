package lab

import "fmt"

// securityLab: after looking at a default container's capabilities,
// no_new_privs and seccomp filter, the student runs seguro with
// --cap-drop ALL and reads the same fields from the host.
func securityLab() *Lab {
	var st map[string]string
	return &Lab{
		Name:  "security",
		Title: text("capabilities, no_new_privs e seccomp", "capabilities, no_new_privs and seccomp"),
		Checks: []Check{
			{
				What: text("o contêiner seguro está rodando", "container seguro is running"),
				Hint: text("rode: minirun run -d --name seguro --cap-drop ALL busybox sleep 3600",
					"run: minirun run -d --name seguro --cap-drop ALL busybox sleep 3600"),
				Run: func(e *Env) error {
					meta, err := e.running("seguro")
					if err != nil {
						return err
					}
					st, err = e.status(meta.State.Pid)
					return err
				},
			},
			{
				What: text("seguro não tem nenhuma capability efetiva nem no bounding set (CapEff e CapBnd zerados)",
					"seguro has no effective capability and none in its bounding set (CapEff and CapBnd are zero)"),
				Hint: text("recrie com --cap-drop ALL (minirun rm -f seguro); sem a opção ficam as 14 capabilities padrão do Docker",
					"create it again with --cap-drop ALL (minirun rm -f seguro); without it the 14 Docker defaults stay"),
				Run: func(e *Env) error {
					for _, k := range []string{"CapEff", "CapBnd"} {
						m, err := capMask(st, k)
						if err != nil {
							return err
						}
						if m != 0 {
							return fmt.Errorf("%s %016x = %s", k, m, capNames(m))
						}
					}
					return nil
				},
			},
			{
				What: text("no_new_privs está ligado (NoNewPrivs: 1)", "no_new_privs is on (NoNewPrivs: 1)"),
				Hint: text("não use --security-opt no-new-privileges=false: com ele um binário setuid ganharia privilégios",
					"do not use --security-opt no-new-privileges=false: with it a setuid binary would gain privileges"),
				Run: func(e *Env) error {
					if st["NoNewPrivs"] != "1" {
						return fmt.Errorf("NoNewPrivs: %s", st["NoNewPrivs"])
					}
					return nil
				},
			},
			{
				What: text("um filtro seccomp está carregado (Seccomp: 2)", "a seccomp filter is loaded (Seccomp: 2)"),
				Hint: text("não use --privileged nem --security-opt seccomp=unconfined: sem o filtro, unshare e mount voltam a funcionar",
					"do not use --privileged or --security-opt seccomp=unconfined: without the filter, unshare and mount work again"),
				Run: func(e *Env) error {
					if st["Seccomp"] != "2" {
						return fmt.Errorf("Seccomp: %s", st["Seccomp"])
					}
					return nil
				},
			},
		},
	}
}
