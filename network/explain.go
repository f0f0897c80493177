package network

import (
	"errors"
	"net/netip"
	"path/filepath"

	"github.com/minirun/minirun/explain"
)

// ExplainDryRun narrates, changing nothing and without root, every step of
// a sample session — `network create curso`, `run --network curso -p
// 8080:80`, the container's exit, `network rm curso` — in the order the
// real code takes them: `minirun explain network --dry-run`. tr must be a
// dry-run tracer.
func ExplainDryRun(tr *explain.Tracer, dataRoot string) error {
	if !tr.DryRun() {
		return errors.New("network: ExplainDryRun needs a dry-run tracer")
	}
	m := &Manager{
		dir: filepath.Join(dataRoot, "network"), tr: tr, Exe: "minirun",
		DefaultBridge: DefaultBridge, DefaultSubnet: netip.MustParsePrefix(DefaultSubnet),
		Pool: netip.MustParsePrefix(UserPool), PoolBits: UserPrefixLen,
	}
	n, err := m.create("curso", netip.Prefix{}, "", false, map[string]string{})
	if err != nil {
		return err
	}
	ep := &Endpoint{
		Name: "web", ContainerID: "3f2a9c01b7e4" + "5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a",
		NetworkID: n.ID, NetworkName: n.Name, Driver: n.Driver,
		IPv4Address: netip.PrefixFrom(n.Subnet().Addr().Next().Next(), n.Subnet().Bits()).String(),
		Gateway:     n.Gateway().String(), DNSServer: n.Gateway().String(),
		Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
	}
	if err := tr.Do(m.ipamStep(n, ep), nil); err != nil {
		return err
	}
	if err := tr.Run(attachPlan(n, ep, 0, "eth0"), nil); err != nil {
		return err
	}
	ep.IfName, ep.HostIfName = "eth0", func() string { h, _ := vethNames(ep.ContainerID, "eth0"); return h }()
	if err := tr.Do(m.joinStep(n, ep, 0), nil); err != nil {
		return err
	}
	if err := m.detach(n, ep); err != nil {
		return err
	}
	n.DNS = &DNSProcess{Pid: 4242, Addr: n.Gateway().String() + ":53"}
	return m.remove(n)
}
