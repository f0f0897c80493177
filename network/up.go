package network

import (
	"github.com/minirun/minirun/internal/cleanup"
)

// ensureUp makes sure every host object of a bridge network exists (and
// of an overlay network, which is one plus its VXLAN): the bridge and its
// address, the sysctls, minirun's nftables table and the
// network's rules in it, the accept rules a FORWARD policy of DROP calls
// for, and the DNS server. Create runs every step (fresh); Attach and
// EnsureDefault run only those whose object is missing — after a reboot,
// for example, when the state on disk survived and the kernel's objects
// did not. Each step registers its undo on undo when it succeeds.
func (m *Manager) ensureUp(n *Network, undo *cleanup.Stack, fresh bool) error {
	if !n.bridged() {
		return nil
	}
	dry := m.tr.DryRun()
	if dry && !fresh && m.rehearsal[n.ID] != nil && !m.recordedOnly[n.ID] {
		// A network this dry run created is up, as it would be for real.
		return nil
	}
	defer delete(m.recordedOnly, n.ID)
	need := func(present func() (bool, error)) (bool, error) {
		if fresh || dry {
			return true, nil
		}
		ok, err := present()
		return !ok, err
	}
	run := func(present func() (bool, error), s func() stepT) error {
		missing, err := need(present)
		if err != nil || !missing {
			return err
		}
		return m.tr.Do(s(), undo)
	}
	if err := run(func() (bool, error) {
		ok, err := linkExists(n.Bridge)
		return ok && linkUp(n.Bridge), err
	}, func() stepT { return bridgeStep(n) }); err != nil {
		return err
	}
	if n.Driver == DriverOverlay {
		// The VXLAN joins the bridge before anything else: the bridge
		// and the VXLAN together are the overlay's switch.
		if err := run(func() (bool, error) { return vxlanUp(n) }, func() stepT { return vxlanStep(n) }); err != nil {
			return err
		}
	}
	gwPrefix := netipPrefix(n.Gateway(), n.Subnet().Bits())
	if err := run(func() (bool, error) { return hasAddr(n.Bridge, gwPrefix), nil },
		func() stepT { return gatewayStep(n) }); err != nil {
		return err
	}
	if !n.Internal {
		if err := run(sysctlIs("net/ipv4/ip_forward", "1"), func() stepT { return ipForwardStep() }); err != nil {
			return err
		}
		if err := run(sysctlIs(sysctlKeyFor(n.Bridge, "route_localnet"), "1"),
			func() stepT { return routeLocalnetStep(n) }); err != nil {
			return err
		}
	}
	// The table is shared by every network: a fresh network finds it made
	// when another network exists. Its step is narrated on every Create
	// all the same (its Do is idempotent and its evidence says whether it
	// was already there), so `explain network` shows it every time.
	if fresh || dry {
		if err := m.tr.Do(tableStep(), undo); err != nil {
			return err
		}
	} else if err := run(func() (bool, error) { return tableExists() }, tableStep); err != nil {
		return err
	}
	groups := []struct {
		skip   bool
		chains []string
		rules  []rule
		step   func() stepT
	}{
		{n.Internal, []string{chainPostrouting}, masqueradeRules(n), func() stepT { return masqueradeStep(n) }},
		{false, []string{chainForward, chainIsolation}, isolationRules(n), func() stepT { return isolationStep(n) }},
		{n.Internal, []string{chainGuard}, guardRules(n), func() stepT { return guardStep(n) }},
	}
	for _, g := range groups {
		if g.skip {
			continue
		}
		if err := run(func() (bool, error) {
			have, err := taggedRules(tableName, g.chains, n.Tag())
			return len(have) == len(g.rules), err
		}, g.step); err != nil {
			return err
		}
	}
	if err := run(func() (bool, error) { return compatOK(n) }, func() stepT { return forwardStep(n) }); err != nil {
		return err
	}
	if n.HasDNS() {
		if err := run(func() (bool, error) { return dnsAlive(n), nil }, func() stepT { return m.dnsStep(n) }); err != nil {
			return err
		}
		if dry {
			n.DNS = &DNSProcess{Addr: n.Gateway().String() + ":53"}
		}
	}
	return nil
}

// compatOK reports whether the accept rules a DROP policy calls for are in
// place (or not called for).
func compatOK(n *Network) (bool, error) {
	pairs := []struct {
		p     compatPair
		rules []rule
	}{{compatFwd, forwardAcceptRules(n)}}
	if n.HasDNS() {
		pairs = append(pairs, struct {
			p     compatPair
			rules []rule
		}{compatIn, inputAcceptRules(n)})
	}
	for _, pr := range pairs {
		needed, err := compatNeeded(pr.p)
		if err != nil {
			return false, err
		}
		if !needed {
			continue
		}
		ok, err := compatPresent(pr.p, pr.rules, n.Tag())
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func sysctlIs(key, want string) func() (bool, error) {
	return func() (bool, error) {
		v, err := readSysctl(key)
		if err != nil {
			return false, nil // missing file: the step will say why
		}
		return v == want, nil
	}
}
