package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, v := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The LSM check says what each kernel has, and says "not enabled" where a
// module is off, in both languages.
func TestReadLSM(t *testing.T) {
	for _, c := range []struct {
		name    string
		files   map[string]string
		pt, en  []string
		profile bool // docker-default loaded
	}{
		{"this host: nothing on, securityfs unmounted", map[string]string{"proc/filesystems": "nodev\tsysfs\nnodev\tsecurityfs\n"},
			[]string{"securityfs não montado", "AppArmor: não habilitado neste kernel", "SELinux: não habilitado neste kernel"},
			[]string{"securityfs not mounted", "AppArmor: not enabled in this kernel", "SELinux: not enabled in this kernel"}, false},
		{"Debian: AppArmor with profiles", map[string]string{
			"sys/kernel/security/lsm":                "lockdown,capability,landlock,yama,apparmor\n",
			"sys/module/apparmor/parameters/enabled": "Y\n",
			"sys/kernel/security/apparmor/profiles":  "docker-default (enforce)\n/usr/sbin/cupsd (enforce)\n",
		},
			[]string{"LSMs ativos: lockdown,capability,landlock,yama,apparmor", "AppArmor: habilitado, 2 perfis carregados", "SELinux: não habilitado"},
			[]string{"active LSMs: lockdown", "AppArmor: enabled, 2 profiles loaded", "SELinux: not enabled"}, true},
		{"Debian VM: AppArmor on, no profile", map[string]string{
			"sys/kernel/security/lsm":                "capability,apparmor\n",
			"sys/module/apparmor/parameters/enabled": "Y\n",
			"sys/kernel/security/apparmor/profiles":  "",
		}, []string{"AppArmor: habilitado, 0 perfis"}, []string{"AppArmor: enabled, 0 profiles"}, false},
		{"Fedora: SELinux enforcing", map[string]string{
			"sys/kernel/security/lsm":                "capability,selinux\n",
			"sys/module/apparmor/parameters/enabled": "N\n",
			"sys/fs/selinux/enforce":                 "1",
		}, []string{"AppArmor: não habilitado", "SELinux: habilitado, enforcing"}, []string{"AppArmor: not enabled", "SELinux: enabled, enforcing"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, c.files)
			st := ReadLSM(root)
			txt := st.Text()
			for _, w := range c.pt {
				if !strings.Contains(txt.PT, w) {
					t.Errorf("pt %q lacks %q", txt.PT, w)
				}
			}
			for _, w := range c.en {
				if !strings.Contains(txt.EN, w) {
					t.Errorf("en %q lacks %q", txt.EN, w)
				}
			}
			if st.Loaded("docker-default") != c.profile {
				t.Errorf("Loaded(docker-default) = %v", !c.profile)
			}
		})
	}
}
