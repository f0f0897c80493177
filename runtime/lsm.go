package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/minirun/minirun/explain"
)

// StepLSM is the check of the kernel's Linux Security Modules; its anchor
// is docs/security.md#security-lsm.
const StepLSM = "security-lsm"

// LSMState is what the kernel says about its Linux Security Modules: the
// active list, and AppArmor's and SELinux's own switches. Docker confines
// every container with one of them (AppArmor's docker-default on Debian and
// Ubuntu, SELinux's container_t on Fedora and RHEL); minirun applies
// --security-opt apparmor=P and label=… only where the kernel has the
// module on, and says so here.
type LSMState struct {
	// Active is /sys/kernel/security/lsm ("capability,landlock,yama,
	// apparmor"), the modules in the order the kernel calls them (Linux
	// 4.15+); empty when that file cannot be read.
	Active []string
	// SecurityFS says why Active may be empty: "" when the file was read,
	// "unmounted" when securityfs exists but is not mounted, "absent" when
	// the kernel has none.
	SecurityFS string
	// AppArmor is /sys/module/apparmor/parameters/enabled = Y, and
	// AppArmorProfiles the number of lines of
	// /sys/kernel/security/apparmor/profiles (-1: unreadable).
	AppArmor         bool
	AppArmorProfiles int
	// Profiles are the loaded profiles' names ("docker-default").
	Profiles []string
	// SELinux is /sys/fs/selinux (selinuxfs) present, and Enforcing its
	// enforce file = 1.
	SELinux, Enforcing bool
}

// ReadLSM reads the LSM state under root ("/" on a host; a test passes a
// fake tree). It changes nothing.
func ReadLSM(root string) LSMState {
	read := func(p string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(root, p))
		return strings.TrimSpace(string(b)), err == nil
	}
	var st LSMState
	if s, ok := read("sys/kernel/security/lsm"); ok {
		st.Active = strings.Split(s, ",")
	} else if fss, _ := read("proc/filesystems"); strings.Contains(fss, "\tsecurityfs") {
		st.SecurityFS = "unmounted"
	} else {
		st.SecurityFS = "absent"
	}
	if s, _ := read("sys/module/apparmor/parameters/enabled"); s == "Y" {
		st.AppArmor = true
		st.AppArmorProfiles = -1
		if s, ok := read("sys/kernel/security/apparmor/profiles"); ok {
			// One line per profile: "NAME (MODE)".
			for _, l := range strings.Split(s, "\n") {
				if name, _, _ := strings.Cut(l, " ("); name != "" {
					st.Profiles = append(st.Profiles, name)
				}
			}
			st.AppArmorProfiles = len(st.Profiles)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "sys/fs/selinux")); err == nil && fi.IsDir() {
		if s, ok := read("sys/fs/selinux/enforce"); ok {
			st.SELinux, st.Enforcing = true, s == "1"
		}
	}
	return st
}

// Loaded says whether AppArmor is on and has profile name loaded: only
// then can a container ask for it at exec.
func (st LSMState) Loaded(name string) bool {
	if !st.AppArmor {
		return false
	}
	for _, p := range st.Profiles {
		if p == name {
			return true
		}
	}
	return false
}

// Text says the state in both languages, honestly: a module that is off
// is "not enabled here", never left unsaid.
func (st LSMState) Text() explain.Text {
	var pt, en []string
	switch {
	case len(st.Active) > 0:
		pt = append(pt, "LSMs ativos: "+strings.Join(st.Active, ","))
		en = append(en, "active LSMs: "+strings.Join(st.Active, ","))
	case st.SecurityFS == "unmounted":
		pt = append(pt, "lista de LSMs ilegível: securityfs não montado em /sys/kernel/security")
		en = append(en, "LSM list unreadable: securityfs not mounted on /sys/kernel/security")
	default:
		pt = append(pt, "lista de LSMs ilegível: kernel sem securityfs")
		en = append(en, "LSM list unreadable: kernel without securityfs")
	}
	switch {
	case !st.AppArmor:
		pt = append(pt, "AppArmor: não habilitado neste kernel")
		en = append(en, "AppArmor: not enabled in this kernel")
	case st.AppArmorProfiles < 0:
		pt = append(pt, "AppArmor: habilitado (perfis ilegíveis)")
		en = append(en, "AppArmor: enabled (profiles unreadable)")
	default:
		pt = append(pt, fmt.Sprintf("AppArmor: habilitado, %d perfis carregados", st.AppArmorProfiles))
		en = append(en, fmt.Sprintf("AppArmor: enabled, %d profiles loaded", st.AppArmorProfiles))
	}
	switch {
	case !st.SELinux:
		pt = append(pt, "SELinux: não habilitado neste kernel")
		en = append(en, "SELinux: not enabled in this kernel")
	case st.Enforcing:
		pt = append(pt, "SELinux: habilitado, enforcing")
		en = append(en, "SELinux: enabled, enforcing")
	default:
		pt = append(pt, "SELinux: habilitado, permissive (só registra)")
		en = append(en, "SELinux: enabled, permissive (logs only)")
	}
	return explain.Text{PT: strings.Join(pt, "; "), EN: strings.Join(en, "; ")}
}

// LSMStep is the security chapter's check of the kernel's LSMs: a step
// that changes nothing and whose evidence is what this kernel has on.
func LSMStep() explain.Step {
	return explain.Step{
		ID: StepLSM, Chapter: explain.ChapterSecurity,
		Title: explain.Text{PT: "Confere se o kernel tem AppArmor ou SELinux ligado", EN: "Check whether the kernel has AppArmor or SELinux on"},
		Why: explain.Text{PT: "Um LSM é uma segunda porta depois das capabilities: o kernel consulta o perfil do processo a cada open, exec ou mount. Um perfil (--security-opt apparmor=P, label=…) só vale onde o módulo está ligado.",
			EN: "An LSM is a second door after the capabilities: the kernel asks the process's profile on every open, exec or mount. A profile (--security-opt apparmor=P, label=…) only counts where the module is on."},
		Shell:        "cat /sys/kernel/security/lsm /sys/module/apparmor/parameters/enabled; ls /sys/fs/selinux",
		EvidenceText: func() explain.Text { return ReadLSM("/").Text() },
	}
}
