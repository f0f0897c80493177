package seccomp

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerCaps is Docker's default capability set (moby's
// oci/caps.DefaultCapabilities).
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
	"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func x8664(name string, args ...uint64) seccompData {
	nr, ok := syscallsX86_64[name]
	if !ok {
		panic(name)
	}
	d := seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: nr}
	copy(d.args[:], args)
	return d
}

const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

func TestDockerDefault(t *testing.T) {
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	allow := uint32(unix.SECCOMP_RET_ALLOW)
	kill := uint32(unix.SECCOMP_RET_KILL_THREAD)
	withAdmin := append([]string{"CAP_SYS_ADMIN"}, dockerCaps...)
	for _, tc := range []struct {
		caps []string
		name string
		d    seccompData
		want uint32
	}{
		{dockerCaps, "read", x8664("read"), allow},
		{dockerCaps, "write", x8664("write"), allow},
		{dockerCaps, "execve", x8664("execve"), allow},
		{dockerCaps, "keyctl", x8664("keyctl"), eperm},
		{dockerCaps, "add_key", x8664("add_key"), eperm},
		{dockerCaps, "mount", x8664("mount"), eperm},
		{dockerCaps, "unshare", x8664("unshare", unix.CLONE_NEWNS), eperm},
		{dockerCaps, "setns", x8664("setns"), eperm},
		{dockerCaps, "clone fork", x8664("clone", uint64(unix.SIGCHLD)), allow},
		{dockerCaps, "clone thread", x8664("clone", unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD), allow},
		{dockerCaps, "clone newuser", x8664("clone", unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), eperm},
		{dockerCaps, "clone newns", x8664("clone", unix.CLONE_NEWNS), eperm},
		// flags are an unsigned long: a namespace bit in the high word
		// is not a namespace flag, and garbage above bit 31 must not
		// fool the mask into matching the low word's NEWNET
		{dockerCaps, "clone high bits", x8664("clone", 1<<40|uint64(unix.SIGCHLD)), allow},
		{dockerCaps, "clone3", x8664("clone3"), enosys},
		{dockerCaps, "personality 0", x8664("personality", 0), allow},
		{dockerCaps, "personality 0x20008", x8664("personality", 0x20008), allow},
		{dockerCaps, "personality 0xffffffff", x8664("personality", 0xffffffff), allow},
		{dockerCaps, "personality hi word", x8664("personality", 1<<32), eperm},
		{dockerCaps, "personality other", x8664("personality", 0x0040000), eperm},
		{dockerCaps, "socket inet", x8664("socket", unix.AF_INET), allow},
		{dockerCaps, "socket unix", x8664("socket", unix.AF_UNIX), allow},
		{dockerCaps, "socket netlink", x8664("socket", unix.AF_NETLINK), allow},
		{dockerCaps, "socket vsock", x8664("socket", unix.AF_VSOCK), eperm},
		{dockerCaps, "socket alg", x8664("socket", unix.AF_ALG), eperm},
		{dockerCaps, "socket inet hi word", x8664("socket", 1<<32|unix.AF_INET), eperm},
		{dockerCaps, "chroot (CAP_SYS_CHROOT)", x8664("chroot"), allow},
		{dockerCaps, "reboot", x8664("reboot"), eperm},
		{dockerCaps, "ptrace (kernel >= 4.8)", x8664("ptrace"), allow},
		{dockerCaps, "open_by_handle_at", x8664("open_by_handle_at"), eperm},
		{dockerCaps, "arch_prctl", x8664("arch_prctl"), allow},
		{dockerCaps, "i386 read", seccompData{arch: unix.AUDIT_ARCH_I386, nr: 3}, allow},
		{dockerCaps, "i386 keyctl", seccompData{arch: unix.AUDIT_ARCH_I386, nr: syscallsI386["keyctl"]}, eperm},
		{dockerCaps, "i386 socketcall", seccompData{arch: unix.AUDIT_ARCH_I386, nr: syscallsI386["socketcall"]}, allow},
		{dockerCaps, "x32 read", seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit}, allow},
		{dockerCaps, "x32 rt_sigaction", seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit | 512}, allow},
		{dockerCaps, "x32 keyctl", seccompData{arch: unix.AUDIT_ARCH_X86_64, nr: x32SyscallBit | 250}, eperm},
		{dockerCaps, "aarch64", seccompData{arch: unix.AUDIT_ARCH_AARCH64, nr: 63}, kill},
		{withAdmin, "admin mount", x8664("mount"), allow},
		{withAdmin, "admin unshare", x8664("unshare", unix.CLONE_NEWNS), allow},
		{withAdmin, "admin clone newuser", x8664("clone", unix.CLONE_NEWUSER), allow},
		{withAdmin, "admin clone3", x8664("clone3"), allow},
		{withAdmin, "admin keyctl", x8664("keyctl"), eperm},
	} {
		p, err := DefaultProfile(tc.caps)
		if err != nil {
			t.Fatal(err)
		}
		prog := mustCompile(t, p)
		if got := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
		if got := reference(p, tc.d); got != tc.want {
			t.Errorf("%s: reference says %s, want %s", tc.name, actionName(got), actionName(tc.want))
		}
	}
}

// TestDockerDefaultEverySyscall runs every syscall number of every ABI
// (and numbers around them) through the compiled Docker profile, with
// random arguments, against the reference; and measures the program.
func TestDockerDefaultEverySyscall(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, caps := range [][]string{nil, dockerCaps, append([]string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_BPF"}, dockerCaps...)} {
		p, err := DefaultProfile(caps)
		if err != nil {
			t.Fatal(err)
		}
		prog := mustCompile(t, p)
		if len(prog) >= maxInsns {
			t.Fatalf("program has %d instructions", len(prog))
		}
		maxSteps := 0
		for _, ab := range []struct {
			arch  uint32
			bit   uint32
			table map[string]uint32
		}{{unix.AUDIT_ARCH_X86_64, 0, syscallsX86_64}, {unix.AUDIT_ARCH_X86_64, x32SyscallBit, syscallsX32}, {unix.AUDIT_ARCH_I386, 0, syscallsI386}} {
			for _, nr := range ab.table {
				for delta := range uint32(3) {
					d := seccompData{arch: ab.arch, nr: (nr + delta) | ab.bit}
					for i := range d.args {
						d.args[i] = value(r)
					}
					if r.IntN(2) == 0 {
						d.args[0] = uint64(r.IntN(64))
					}
					got, steps, err := run(prog, d)
					if err != nil {
						t.Fatal(err)
					}
					maxSteps = max(maxSteps, steps)
					if want := reference(p, d); got != want {
						t.Fatalf("caps %v %+v: got %s, want %s", caps, d, actionName(got), actionName(want))
					}
				}
			}
		}
		t.Logf("caps %d: Docker's default profile is %d instructions, at most %d executed per call", len(caps), len(prog), maxSteps)
	}
}

func TestLoadProfileFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Docker's default profile as a file is the same as DefaultProfile.
	path := write("default.json", mobyseccomp.DefaultProfile())
	for _, caps := range [][]string{nil, dockerCaps, {"SYS_ADMIN"}} {
		got, err := LoadProfileFile(path, caps...)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := DefaultProfile(caps)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("caps %v: file and DefaultProfile differ", caps)
		}
	}

	custom := write("custom.json", []byte(`{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [
			{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
			{"name": "mkdir", "action": "SCMP_ACT_ERRNO"},
			{"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
			 "args": [{"index": 1, "value": 2048, "valueTwo": 2048, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
		]}`))
	p, err := LoadProfileFile(custom)
	if err != nil {
		t.Fatal(err)
	}
	prog := mustCompile(t, p)
	for _, tc := range []struct {
		d    seccompData
		want uint32
	}{
		{x8664("uname"), unix.SECCOMP_RET_ERRNO | 38},
		{x8664("mkdir"), unix.SECCOMP_RET_ERRNO | 1},
		{x8664("chmod", 0, 0o4755), unix.SECCOMP_RET_ERRNO | 1},
		{x8664("chmod", 0, 0o755), unix.SECCOMP_RET_ALLOW},
		{x8664("mount"), unix.SECCOMP_RET_ERRNO | 1},
		{x8664("getpid"), unix.SECCOMP_RET_ALLOW},
	} {
		if got := mustRun(t, prog, tc.d); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.d, actionName(got), actionName(tc.want))
		}
	}
	if p, _ := LoadProfileFile(custom, "CAP_SYS_ADMIN"); len(p.Syscalls) != 3 {
		t.Errorf("with CAP_SYS_ADMIN the mount rule should be excluded: %+v", p.Syscalls)
	}

	if p, err := LoadProfileFile(write("empty.json", []byte(`{}`))); p != nil || err != nil {
		t.Errorf("empty profile: got %v, %v; want no filter", p, err)
	}
	for name, body := range map[string]string{
		"bad-op.json":     `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_SOMETIMES"}]}]}`,
		"bad-index.json":  `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "op": "SCMP_CMP_EQ"}]}]}`,
		"bad-action.json": `{"defaultAction": "SCMP_ACT_PERHAPS"}`,
		"bad-json.json":   `{"defaultAction": `,
	} {
		if _, err := LoadProfileFile(write(name, []byte(body))); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	if _, err := LoadProfileFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestStep(t *testing.T) {
	p, err := DefaultProfile(dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	prog := mustCompile(t, p)
	st := Step(p)
	if st.ID != "security-seccomp" || st.Chapter != "security" || st.Do == nil || st.Evidence == nil {
		t.Fatalf("step %+v", st)
	}
	if n := len(prog); !strings.Contains(st.Title.PT, itoa(n)+" instruções") || !strings.Contains(st.Title.EN, itoa(n)+" BPF") {
		t.Errorf("title %q / %q does not give the size %d", st.Title.PT, st.Title.EN, n)
	}
	if ev := st.Evidence(); !strings.HasPrefix(ev, "Seccomp: ") || !strings.Contains(ev, "Seccomp_filters: ") {
		t.Errorf("evidence %q", ev)
	}
	if bad := Step(&specs.LinuxSeccomp{DefaultAction: "nope"}); bad.Do() == nil || !strings.Contains(bad.Title.EN, "invalid") {
		t.Errorf("a step with an invalid profile: %q did not fail", bad.Title.EN)
	}
	if none := Step(nil); none.Do() != nil || !strings.Contains(none.Title.EN, "unconfined") {
		t.Errorf("a step without a profile: %q", none.Title.EN)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestDisasm(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}}}}
	prog := mustCompile(t, s)
	out := Disasm(prog)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(prog) {
		t.Fatalf("%d lines for %d instructions", len(lines), len(prog))
	}
	for _, want := range []string{"ld  [4]  ; arch", "jeq #0xc000003e", "ld  [0]  ; nr", "ld  [20]  ; args[0] hi", "ld  [16]  ; args[0] lo", "ret ALLOW", "ret ERRNO(1)", "ret KILL_THREAD"} {
		if !strings.Contains(out, want) {
			t.Errorf("disassembly lacks %q:\n%s", want, out)
		}
	}
	t.Logf("\n%s", out)
}
