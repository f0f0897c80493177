//go:build linux

// Command attack is the hostile suite's payload: the escape attempts a
// malicious image would make, run INSIDE a minirun container (never on the
// host: the suite bakes this static binary into an image and starts it with
// `minirun run`). Every subcommand prints JSON lines that the suite's Go
// tests read; the program itself judges nothing beyond "did the kernel say
// yes".
//
//	attack escape [CHECK…]         the single-process escape checks (all, or those named), one line each
//	attack volswap DIR TARGET SECS swap each new directory under DIR for a symlink to TARGET
//	attack procexe ROUNDS          CVE-2019-5736: try to write /proc/PID/exe of foreign processes
//	attack child-mount             (helper) mount a tmpfs; run inside a new user+mount namespace
//	attack chroot-escape           (helper) the chroot+fchdir escape, in a process of its own
//
// A check line is {"check": NAME, "result": "denied"|"allowed"|"error", "detail": …}.
// "denied" means the kernel refused with one of the errnos the check expects
// (EPERM from seccomp or a missing capability, EROFS from a read-only mount,
// …); "allowed" means the attempt worked; "error" means it failed for some
// other reason, so the check proved nothing — the suite treats that as a
// failure too, so a check cannot pass by accident (EINVAL from a bad
// argument is not a denial).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: attack escape|volswap|procexe|child-mount|chroot-escape")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "escape":
		runEscapeChecks()
	case "volswap":
		if len(os.Args) != 5 {
			fatal("usage: attack volswap DIR TARGET SECONDS")
		}
		secs, _ := strconv.Atoi(os.Args[4])
		volswap(os.Args[2], os.Args[3], time.Duration(secs)*time.Second)
	case "procexe":
		rounds := 200
		if len(os.Args) > 2 {
			rounds, _ = strconv.Atoi(os.Args[2])
		}
		procexe(rounds)
	case "child-mount":
		os.Exit(childMount())
	case "chroot-escape":
		os.Exit(chrootEscape())
	default:
		fatal("unknown subcommand " + os.Args[1])
	}
}

// emit prints one JSON line on stdout.
func emit(v interface{}) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "attack:", msg)
	os.Exit(2)
}
