//go:build hostile

package hostile

// The failure messages name the part of issue #13 each check belongs to,
// so a red run says which open item it waits on. Items 1 to 3 are the
// issue's numbered findings; the others name the scenario the issue asks
// for (the lead maps them to the numbering in one place: here).
const (
	itemVolumeRace  = "issue#13 item 1 (volume copy-up follows a container's symlinks onto the host)"
	itemSetuidReach = "issue#13 item 2 (CVE-2021-41091: another host user reaches a container's files)"
	itemUserMax     = "issue#13 item 3 (-u 4294967295 runs as root)"
	itemEscape      = "issue#13 escape checks (a default container must be refused)"
	itemProcExe     = "issue#13 CVE-2019-5736 (/proc/PID/exe of minirun written from a container)"
	itemKill        = "issue#13 SIGKILL loops (a killed minirun, shim or init must leave nothing after the user's cleanup)"
	itemFullDisk    = "issue#13 full disk"
	itemParallelRm  = "issue#13 parallel removers"
)
