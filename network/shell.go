package network

// What `minirun explain network --shell` needs from this package: a dry
// run whose Shell lines name the script's own objects (shell variables the
// script sets) instead of minirun's, so that a student's script never
// touches minirun's bridge, links or nftables table; and the shell forms
// of the undos (UndoShell), which the script's teardown runs.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/minirun/minirun/explain"
)

// The script's names. The links start with "mrsh" (minirun's are "mr-…"
// and "mr<id>…") and, built from the script's $ID, fit IFNAMSIZ-1 = 15
// characters; the table is not minirun's "ip minirun".
const (
	ShellTable  = "$TABLE"
	ShellBridge = "$BRIDGE"
	ShellVeth   = "$VETH"
	// ShellSubnet is the script's network: outside minirun's pools
	// (10.77.0.0/16, 10.78.0.0/16), the test suites' (10.86.0.0/16) and
	// the 10.99.0.0/16 docs/network.md suggests for MINIRUN_BRIDGE_SUBNET.
	ShellSubnet = "10.98.0.0/24"
	// ShellHostPort is the host port the script publishes: below the
	// ephemeral range minirun draws published ports from, so it never
	// meets one of minirun's.
	ShellHostPort = 18080
)

// ShellVars are the variables the Shell lines of a DescribeForShell dry
// run use, as the script sets them (after $ID, "shell-" + 10 hex digits).
var ShellVars = []explain.ShellVar{
	{Name: "TABLE", Value: "minirun_shell", Why: explain.Text{
		PT: "A tabela nftables do script (a do minirun é ip minirun) e os links dele, mrsh*:",
		EN: "The script's nftables table (minirun's is ip minirun) and its links, mrsh*:"}},
	{Name: "BRIDGE", Value: "mrsh-${ID#shell-}"},
	{Name: "VETH", Value: "mrsh${ID#shell-}h"},
}

var shellMode struct {
	sync.Mutex
	on bool
}

// DescribeForShell makes the dry runs that follow, until restore is
// called, write their Shell lines for `explain --shell`: the table, bridge
// and the veth's host end are the script's ($TABLE, $BRIDGE, $VETH), and the
// DNS server, which is minirun itself, is a comment.
func DescribeForShell() (restore func()) {
	shellMode.Lock()
	shellMode.on = true
	return func() {
		shellMode.on = false
		shellMode.Unlock()
	}
}

func forShell() bool { return shellMode.on }

// shTable is how a Shell line names one of minirun's tables.
func shTable(t string) string {
	if forShell() && t == tableName {
		return ShellTable
	}
	return t
}

// shChain is how a Shell line names a chain: minirun's own chains in
// iptables' filter table become the script's.
func shChain(c string) string {
	if forShell() && (c == compatForward || c == compatInput) {
		return ShellTable + strings.TrimPrefix(c, "MINIRUN")
	}
	return c
}

var shellVarRef = regexp.MustCompile(`\$[A-Z_]+`)

// shQuote quotes s as one shell word. Without shell variables it is in
// single quotes, as typed by hand; with them ($BRIDGE in a rule), in double
// quotes, so that the shell puts their values in.
func shQuote(s string) string {
	if !shellVarRef.MatchString(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`").Replace(s) + `"`
}

// shQuoteData quotes s (a JSON document) in single quotes, except for its
// shell variables, which are left out of them so that they expand.
func shQuoteData(s string) string {
	s = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	return shellVarRef.ReplaceAllStringFunc(s, func(v string) string { return `'"` + v + `"'` })
}

// deleteTaggedShell is deleteTagged by hand: the rules of the chains whose
// comment is tag, by the handle `nft -a` prints (never a flush). A missing
// chain has no rules.
func deleteTaggedShell(table string, chains []string, tag string) string {
	table = shTable(table)
	sed := fmt.Sprintf(`sed -n 's/.* comment "%s" # handle //p'`, tag)
	if len(chains) == 1 {
		c := shChain(chains[0])
		return fmt.Sprintf("for h in $(nft -a list chain ip %s %s 2>/dev/null | %s); do nft delete rule ip %s %s handle $h; done",
			table, c, sed, table, c)
	}
	var cs []string
	for _, c := range chains {
		cs = append(cs, shChain(c))
	}
	return fmt.Sprintf("for c in %s; do for h in $(nft -a list chain ip %s $c 2>/dev/null | %s); do nft delete rule ip %s $c handle $h; done; done",
		strings.Join(cs, " "), table, sed, table)
}

// jqShell edits the network's JSON by hand as minirun does, under the
// manager's flock, through a temporary file and a rename.
func jqShell(dir, file, filter string) string {
	return fmt.Sprintf(`flock %s/lock sh -c 'jq %s %s > %s.new && mv %s.new %s'`,
		dir, `"`+strings.ReplaceAll(filter, `"`, `\"`)+`"`, file, file, file, file)
}

// randomMACShell draws, in the shell, what randomMAC draws: a locally
// administered unicast MAC (02:…, IEEE 802), five random bytes after it.
const randomMACShell = `$(od -An -N5 -tx1 /dev/urandom | tr ' ' : | sed 's/^/02/')`

// stateShell writes the network's JSON as minirun does (in one line: the
// same document, without the indentation).
func stateShell(dir, path string, n *Network) string {
	b, err := json.Marshal(n)
	if err != nil {
		b = []byte("{}")
	}
	return fmt.Sprintf("mkdir -p %s && printf '%%s\\n' %s > %s   # docker network inspect %s", dir, shQuoteData(string(b)), path, n.Name)
}

// compatShell is ensureCompat by hand, for one pair: only when the host's
// chain drops by policy (or minirun's chain is already there), minirun's
// chain, one jump to it at the top of the host's chain, and the rules.
func compatShell(p compatPair, rules []rule) string {
	own := shChain(p.own)
	jump := compatJump(p.hook, p.own)
	lines := []string{
		fmt.Sprintf("if nft list chain ip filter %s 2>/dev/null | grep -q 'policy drop;' || nft list chain ip filter %s >/dev/null 2>&1; then   # iptables -S %s: policy DROP?", p.hook, own, p.hook),
		fmt.Sprintf("\tnft add chain ip filter %s", own),
		fmt.Sprintf("\tnft list chain ip filter %s | grep -q \"jump %s\" || %s", p.hook, own, jump.command()),
	}
	for _, r := range rules {
		lines = append(lines, "\t"+r.command()+"   # "+r.iptables())
	}
	return strings.Join(append(lines, "fi"), "\n")
}

// compatUndoShell is removeCompat by hand: the network's rules out of
// minirun's chain and, once that chain has no rule left, the jump to it
// and the chain itself.
func compatUndoShell(p compatPair, tag string) string {
	own := shChain(p.own)
	return deleteTaggedShell(filterTable, []string{p.own}, tag) + "\n" +
		fmt.Sprintf("if nft list chain ip filter %s >/dev/null 2>&1 && ! nft list chain ip filter %s | grep -q counter; then ", own, own) +
		fmt.Sprintf(`for h in $(nft -a list chain ip filter %s | sed -n "s/.* jump %s comment \"%s\" # handle //p"); do nft delete rule ip filter %s handle $h; done; `, p.hook, own, baseTag, p.hook) +
		fmt.Sprintf("nft delete chain ip filter %s; fi", own)
}

// dnsShell starts the network's DNS server, which is minirun itself: a
// script has no shell equivalent, and says so.
func dnsShell(dir, id, netDir string) string {
	cmd := fmt.Sprintf("setsid minirun network dns-server --dir %s %s >> %s/dns.log 2>&1 &", dir, id, netDir)
	if !forShell() {
		return cmd
	}
	return "# " + cmd + "   (not run: the network's DNS server is minirun itself, which a shell cannot stand in for; without it, containers reach each other by address, not by name)"
}
