package network

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minirun/minirun/internal/testutil"
	"github.com/vishvananda/netlink"
)

// The test binary plays three roles besides running tests:
//   - a network's DNS server (`TESTBINARY network dns-server --dir DIR ID`), which
//     the Manager starts the way it starts minirun (Manager.Exe);
//   - a process that reserves addresses (roleEnv=reserve), for the IPAM
//     test across processes;
//   - with MINIRUN_TEST_ROOT=1, the root tests' "host": the binary runs
//     itself again in a network namespace of its own (nsEnv), so bridges,
//     nftables tables, sysctls and the FORWARD DROP policy the tests set
//     all live there and vanish with it — the machine's own network, and
//     other tests running beside these, are never touched.
const (
	roleEnv = "MINIRUN_NETTEST_ROLE"
	nsEnv   = "MINIRUN_NETTEST_HOSTNS"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 5 && os.Args[1] == DNSServerArgs[0] && os.Args[2] == DNSServerArgs[1] && os.Args[3] == "--dir" {
		if err := ServeDNS(os.Args[4], os.Args[5], ReadyFile()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	switch os.Getenv(roleEnv) {
	case "reserve":
		os.Exit(reserveRole())
	case "hold":
		io.Copy(io.Discard, os.Stdin) // until the test closes the pipe
		os.Exit(0)
	}
	if os.Getenv(testutil.RootEnv) == "1" && os.Geteuid() == 0 && os.Getenv(nsEnv) != "1" {
		os.Exit(rerunInNetNS())
	}
	if os.Getenv(nsEnv) == "1" {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bring lo up in the test host namespace:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// rerunInNetNS runs the test binary again, with the same arguments, in a
// new network namespace, and returns its exit code.
func rerunInNetNS() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "run the tests in a network namespace:", err)
		return 1
	}
	return 0
}

// reserveRole reserves COUNT addresses on NETWORK in DATAROOT, one per
// made-up container, and prints them one per line.
func reserveRole() int {
	args := strings.Fields(os.Getenv("MINIRUN_NETTEST_ARGS")) // DATAROOT NETWORK COUNT PREFIX
	m, err := Open(args[0], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	count, _ := strconv.Atoi(args[2])
	for i := 0; i < count; i++ {
		id := fmt.Sprintf("%s%056x", args[3], i)
		ep, err := m.Reserve(args[1], id, "c"+id[:8], EndpointOpts{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ep.IP())
	}
	return 0
}
