package image

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParseChanges reads the Dockerfile instructions `docker import --change`
// (and `docker commit --change`) take, in the few forms minirun applies:
// CMD and ENTRYPOINT as a JSON array or a plain string (run by /bin/sh
// -c), ENV K=V or K V, WORKDIR, USER. Both the CLI's `image import` and
// the daemon's POST /images/create?fromSrc= call it, so they read the
// same --change the same way. No changes give a nil config.
func ParseChanges(changes []string) (*v1.ImageConfig, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	cfg := &v1.ImageConfig{}
	for _, ch := range changes {
		instr, arg, _ := strings.Cut(strings.TrimSpace(ch), " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = parseCmd(arg)
		case "ENTRYPOINT":
			cfg.Entrypoint = parseCmd(arg)
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				k, v, _ = strings.Cut(arg, " ")
			}
			cfg.Env = append(cfg.Env, strings.TrimSpace(k)+"="+strings.TrimSpace(v))
		case "WORKDIR":
			cfg.WorkingDir = arg
		case "USER":
			cfg.User = arg
		default:
			return nil, fmt.Errorf("--change %q: only CMD, ENTRYPOINT, ENV, WORKDIR and USER are supported", ch)
		}
	}
	return cfg, nil
}

// parseCmd is a CMD's argument: the exec form (a JSON array) as is, the
// shell form wrapped in /bin/sh -c, as the classic builder does.
func parseCmd(arg string) []string {
	var list []string
	if strings.HasPrefix(arg, "[") {
		if err := json.Unmarshal([]byte(arg), &list); err == nil {
			return list
		}
	}
	return []string{"/bin/sh", "-c", arg}
}
