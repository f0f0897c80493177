package network

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/minirun/minirun/explain"
	"golang.org/x/sys/unix"
)

// This file talks to nftables over netlink (github.com/google/nftables):
// the same messages nft(8) sends, without running it. Each function sends
// one batch, which the kernel applies as one transaction: all of it or
// nothing (nft(8), "the ruleset is updated atomically").

func ipTable() *nftables.Table {
	return &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
}

func filterTableObj() *nftables.Table {
	return &nftables.Table{Name: filterTable, Family: nftables.TableFamilyIPv4}
}

func policy(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

// minirunChains are the chains of table ip minirun. The nat chains sit at
// the standard NAT priorities; guard runs before NAT (see guardRules).
func minirunChains(t *nftables.Table) []*nftables.Chain {
	return []*nftables.Chain{
		{Name: chainPorts, Table: t},
		{Name: chainIsolation, Table: t},
		{Name: chainPrerouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: chainOutput, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		{Name: chainPostrouting, Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		{Name: chainForward, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: policy(nftables.ChainPolicyAccept)},
		{Name: chainGuard, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle, Policy: policy(nftables.ChainPolicyAccept)},
	}
}

// tableShell is the by-hand version of createTable. The output chain's
// priority is a number: nft before 1.0.7 takes the name dstnat (-100) only
// on the prerouting hook ("invalid priority expression value in this
// context").
func tableShell() string {
	return strings.ReplaceAll(`nft add table ip @T; `+
		`nft add chain ip @T ports; nft add chain ip @T isolation; `+
		`nft add chain ip @T prerouting '{ type nat hook prerouting priority dstnat; }'; `+
		`nft add chain ip @T output '{ type nat hook output priority -100; }'; `+
		`nft add chain ip @T postrouting '{ type nat hook postrouting priority srcnat; }'; `+
		`nft add chain ip @T forward '{ type filter hook forward priority filter; policy accept; }'; `+
		`nft add chain ip @T guard '{ type filter hook prerouting priority mangle; policy accept; }'; `+
		`nft add rule ip @T prerouting fib daddr type local counter jump ports comment '"minirun"'; `+
		`nft add rule ip @T output fib daddr type local counter jump ports comment '"minirun"'`, "@T", shTable(tableName))
}

// tableUndoShell is the table step's Undo by hand: the table goes only if
// no rule of a network or container is left in it.
func tableUndoShell() string {
	t := shTable(tableName)
	return fmt.Sprintf(`nft list table ip %s | grep -q 'comment "minirun:' || nft delete table ip %s`, t, t)
}

func isNotExist(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist)
}

// ipChains lists every chain of the ip family by table and name. The
// library's ListChain loses the errno of a missing chain, so minirun asks
// for the whole list and looks.
func ipChains() (map[[2]string]*nftables.Chain, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	out := map[[2]string]*nftables.Chain{}
	for _, ch := range chains {
		out[[2]string{ch.Table.Name, ch.Name}] = ch
	}
	return out, nil
}

// tableExists reports whether table ip minirun exists.
func tableExists() (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range ts {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, nil
}

// createTable creates table ip minirun, its chains and its structural
// rules in one transaction.
func createTable() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(ipTable())
	chains := map[string]*nftables.Chain{}
	for _, ch := range minirunChains(t) {
		chains[ch.Name] = c.AddChain(ch)
	}
	for _, r := range baseRules() {
		c.AddRule(r.nftRule(t, chains[r.chain]))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("create table ip %s: %w", tableName, err)
	}
	return nil
}

// deleteTable deletes table ip minirun with everything in it; a table that
// is already gone is success.
func deleteTable() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if ok, err := tableExists(); err != nil || !ok {
		return err
	}
	c.DelTable(ipTable())
	if err := c.Flush(); err != nil && !isNotExist(err) {
		return fmt.Errorf("delete table ip %s: %w", tableName, err)
	}
	return nil
}

// addRules appends rules, all in one transaction.
func addRules(rules []rule) error {
	if len(rules) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for _, r := range rules {
		t := &nftables.Table{Name: r.table, Family: nftables.TableFamilyIPv4}
		c.AddRule(r.nftRule(t, &nftables.Chain{Name: r.chain, Table: t}))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add rule to ip %s %s: %w", rules[0].table, rules[0].chain, err)
	}
	return nil
}

// taggedRules lists the rules of the chains that carry tag as comment.
// A missing table or chain has no rules.
func taggedRules(table string, chains []string, tag string) ([]*nftables.Rule, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	have, err := ipChains()
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv4}
	var out []*nftables.Rule
	for _, ch := range chains {
		if have[[2]string{table, ch}] == nil {
			continue
		}
		rs, err := c.GetRules(t, &nftables.Chain{Name: ch, Table: t})
		if err != nil {
			return nil, fmt.Errorf("list rules of ip %s %s: %w", table, ch, err)
		}
		for _, r := range rs {
			if tag == "" || commentOf(r) == tag {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// deleteTagged deletes exactly the rules whose comment is tag, by handle,
// in one transaction. Rules that are already gone are success.
func deleteTagged(table string, chains []string, tag string) error {
	rs, err := taggedRules(table, chains, tag)
	if err != nil || len(rs) == 0 {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := c.DelRule(r); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil && !isNotExist(err) {
		return fmt.Errorf("delete rules %s from ip %s: %w", tag, table, err)
	}
	return nil
}

// allMinirunChains names every chain of table ip minirun.
var allMinirunChains = []string{chainPorts, chainIsolation, chainPrerouting, chainOutput, chainPostrouting, chainForward, chainGuard}

// ownedRules counts the rules of table ip minirun that belong to a network
// or a container (not the structural ones): the table goes when none is
// left.
func ownedRules() (int, error) {
	rs, err := taggedRules(tableName, allMinirunChains, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rs {
		if strings.HasPrefix(commentOf(r), "minirun:") {
			n++
		}
	}
	return n, nil
}

// chainPolicyDrop reports whether table ip filter (iptables-nft's) has the
// base chain name (FORWARD, INPUT) with policy drop.
func chainPolicyDrop(name string) (bool, error) {
	chains, err := ipChains()
	if err != nil {
		return false, err
	}
	ch := chains[[2]string{filterTable, name}]
	return ch != nil && ch.Hooknum != nil && ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop, nil
}

// chainExists reports whether table ip filter has the chain.
func chainExists(name string) (bool, error) {
	chains, err := ipChains()
	if err != nil {
		return false, err
	}
	return chains[[2]string{filterTable, name}] != nil, nil
}

// compatPair is a base chain of iptables' filter table and the regular
// chain minirun owns and jumps to from it.
type compatPair struct{ hook, own string }

var (
	compatFwd = compatPair{"FORWARD", compatForward}
	compatIn  = compatPair{"INPUT", compatInput}
)

// compatNeeded reports whether minirun must add accept rules for the pair:
// the host's chain drops by policy, or minirun already has its chain
// there (keep one way of doing it while any network uses it).
func compatNeeded(p compatPair) (bool, error) {
	drops, err := chainPolicyDrop(p.hook)
	if err != nil || drops {
		return drops, err
	}
	return chainExists(p.own)
}

// ensureCompat adds, in one transaction, what is missing of: minirun's
// chain in table ip filter, the jump to it at the top of the host's chain,
// and the network's rules in it.
func ensureCompat(p compatPair, rules []rule, tag string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := filterTableObj()
	own := &nftables.Chain{Name: p.own, Table: t}
	exists, err := chainExists(p.own)
	if err != nil {
		return err
	}
	if !exists {
		c.AddChain(own)
	}
	jumps, err := jumpRules(p)
	if err != nil {
		return err
	}
	if len(jumps) == 0 {
		// InsertRule puts it first: before the chain's other rules and,
		// of course, before its policy.
		j := compatJump(p.hook, p.own)
		c.InsertRule(j.nftRule(t, &nftables.Chain{Name: p.hook, Table: t}))
	}
	have, err := taggedRules(filterTable, []string{p.own}, tag)
	if err != nil {
		return err
	}
	if len(have) != len(rules) {
		for _, r := range have {
			if err := c.DelRule(r); err != nil {
				return err
			}
		}
		for _, r := range rules {
			c.AddRule(r.nftRule(t, own))
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add accept rules to ip filter %s: %w", p.own, err)
	}
	return nil
}

// compatPresent reports whether the network's rules are in minirun's
// chain of the pair and the jump to it is in place.
func compatPresent(p compatPair, rules []rule, tag string) (bool, error) {
	have, err := taggedRules(filterTable, []string{p.own}, tag)
	if err != nil {
		return false, err
	}
	jumps, err := jumpRules(p)
	if err != nil {
		return false, err
	}
	return len(have) == len(rules) && len(jumps) > 0, nil
}

// jumpRules finds minirun's jump in the host's chain by its comment and
// its target.
func jumpRules(p compatPair) ([]*nftables.Rule, error) {
	rs, err := taggedRules(filterTable, []string{p.hook}, baseTag)
	if err != nil {
		return nil, err
	}
	var out []*nftables.Rule
	for _, r := range rs {
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictJump && v.Chain == p.own {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// removeCompat deletes the network's rules from minirun's chain of the
// pair and, when the chain is left empty, the jump and the chain: nothing
// of minirun stays in a table it does not own.
func removeCompat(p compatPair, tag string) error {
	if err := deleteTagged(filterTable, []string{p.own}, tag); err != nil {
		return err
	}
	exists, err := chainExists(p.own)
	if err != nil || !exists {
		return err
	}
	left, err := taggedRules(filterTable, []string{p.own}, "")
	if err != nil || len(left) > 0 {
		return err
	}
	jumps, err := jumpRules(p)
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for _, r := range jumps {
		if err := c.DelRule(r); err != nil {
			return err
		}
	}
	c.DelChain(&nftables.Chain{Name: p.own, Table: filterTableObj()})
	if err := c.Flush(); err != nil && !isNotExist(err) {
		return fmt.Errorf("delete chain ip filter %s: %w", p.own, err)
	}
	return nil
}

// firewallWarnings looks for what minirun cannot fix without touching
// rules that are not its own, so the step's evidence can tell the student:
// a forward base chain with policy drop in a table other than iptables'
// filter, and the legacy (x_tables) filter table, which nftables cannot see.
func firewallWarnings() []explain.Text {
	var out []explain.Text
	c, err := nftables.New()
	if err == nil {
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err == nil {
			inet, _ := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
			chains = append(chains, inet...)
			for _, ch := range chains {
				if ch.Hooknum == nil || *ch.Hooknum != *nftables.ChainHookForward || ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop {
					continue
				}
				if ch.Table.Name == filterTable && ch.Table.Family == nftables.TableFamilyIPv4 {
					continue
				}
				fam := "ip"
				if ch.Table.Family == nftables.TableFamilyINet {
					fam = "inet"
				}
				chain := fmt.Sprintf("%s %s %s", fam, ch.Table.Name, ch.Name)
				out = append(out, explain.Text{
					PT: "a chain " + chain + " tem política drop: acrescente nela você mesmo 'iifname \"mr*\" accept; oifname \"mr*\" accept'",
					EN: "chain " + chain + " has policy drop: add 'iifname \"mr*\" accept; oifname \"mr*\" accept' to it yourself",
				})
			}
		}
	}
	if b, err := os.ReadFile("/proc/net/ip_tables_names"); err == nil && strings.Contains(string(b), "filter") {
		fix := "iptables-legacy -I FORWARD -i mr+ -j ACCEPT; iptables-legacy -I FORWARD -o mr+ -j ACCEPT"
		out = append(out, explain.Text{
			PT: "a tabela filter do iptables-legacy está carregada: se a política do FORWARD dela for DROP, rode " + fix,
			EN: "the iptables-legacy filter table is loaded: if its FORWARD policy is DROP, run " + fix,
		})
	}
	return out
}
