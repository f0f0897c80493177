package explain

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// hostChanging are the calls that change the host: mounts, namespaces,
// signals, the root, links, addresses, routes and firewall tables. Each
// must run inside a step's Do or Undo, or in a helper that only steps call,
// so that `minirun explain` narrates every change minirun makes.
var hostChanging = map[string]bool{
	"unix.Mount": true, "unix.Unmount": true, "syscall.Mount": true, "syscall.Unmount": true,
	"unix.Unshare": true, "syscall.Unshare": true, "unix.Setns": true,
	"unix.Kill": true, "syscall.Kill": true, "unix.PivotRoot": true, "syscall.PivotRoot": true,
	"unix.PidfdSendSignal": true, "unix.MoveMount": true, "unix.MountSetattr": true, "unix.Mknod": true, "unix.Mknodat": true,
	"netlink.LinkAdd": true, "netlink.LinkDel": true, "netlink.LinkSetUp": true, "netlink.LinkSetDown": true,
	"netlink.LinkSetMaster": true, "netlink.LinkSetNsFd": true, "netlink.LinkSetNsPid": true, "netlink.LinkSetName": true,
	"netlink.LinkSetMTU": true, "netlink.AddrAdd": true, "netlink.AddrDel": true, "netlink.AddrReplace": true,
	"netlink.RouteAdd": true, "netlink.RouteDel": true, "netlink.RouteReplace": true,
	"netlink.NeighAdd": true, "netlink.NeighDel": true, "netlink.NeighSet": true,
	// Owners and modes: the data root's, a volume's, a FIFO's. Under
	// --userns-remap they decide what the container's root (an ordinary
	// host user) may reach, and the narration must show them.
	"os.Chmod": true, "os.Chown": true, "os.Lchown": true,
	"unix.Chmod": true, "unix.Chown": true, "unix.Lchown": true, "unix.Fchmod": true, "unix.Fchown": true,
	"unix.Fchmodat": true, "unix.Fchownat": true, "syscall.Chmod": true, "syscall.Chown": true,
}

// hostMethods are methods that change the host whatever their receiver's
// name: a netlink.Handle's, an nftables.Conn's.
var hostMethods = map[string]bool{
	"LinkAdd": true, "LinkDel": true, "LinkSetUp": true, "LinkSetDown": true, "LinkSetMaster": true,
	"LinkSetNsFd": true, "LinkSetNsPid": true, "LinkSetName": true, "LinkSetMTU": true,
	"AddrAdd": true, "AddrDel": true, "AddrReplace": true, "RouteAdd": true, "RouteDel": true, "RouteReplace": true,
	"FlushRuleset": true, "DelTable": true, "FlushTable": true, "FlushChain": true, "DelChain": true,
}

// writesUnder are the paths whose writes change the kernel's settings,
// or the host's own configuration.
var writesUnder = []string{"/sys/fs/cgroup", "/proc/sys", "/etc/"}

// etcNames are the files a container gets at /etc/hosts, /etc/hostname
// and /etc/resolv.conf: written on the host, bind-mounted in. A write
// whose path names one of them (a literal in the path, or in what the
// path variable was assigned) is a host change the narration must show.
var etcNames = map[string]bool{"hosts": true, "hostname": true, "resolv.conf": true}

// NoStep is the comment that lets a host-changing call stand outside a
// step, with its reason on the same line: "//minirun:nostep the shim
// forwards the user's signal".
const noStep = "minirun:nostep"

type funcInfo struct {
	name  string // pkgdir.Func or pkgdir.Recv.Func
	short string // Func
	pkg   string // pkgdir: an unexported name is called only from its package
	pos   string
	// inStep: the body is a step's Do or Undo.
	inStep bool
	calls  []string // short names it calls
	hits   []string // host-changing calls in it, with position
}

// The spine: every host change goes through a step. This reads the code
// (go/ast) and fails when a host-changing call sits outside a step's Do or
// Undo and outside every helper that only steps (or other such helpers)
// call. A call may stand outside with a "//minirun:nostep REASON" comment
// on its line; the reason is required.
func TestNoSideDoors(t *testing.T) {
	fset := token.NewFileSet()
	var funcs []*funcInfo
	byShort := map[string][]*funcInfo{}
	callers := map[string][]*funcInfo{} // short name → functions that call it
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "third_party", "docs", "tests", "testdata", "bench", "examples", "testutil":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		allowed := map[int]bool{}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if i := strings.Index(c.Text, noStep); i >= 0 {
					if strings.TrimSpace(c.Text[i+len(noStep):]) == "" {
						t.Errorf("%s: %s needs a reason", fset.Position(c.Pos()), noStep)
					}
					allowed[fset.Position(c.Pos()).Line] = true
				}
			}
		}
		rel, _ := filepath.Rel(repoRoot, path)
		pkg := filepath.Dir(rel)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			name := pkg + "." + fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) > 0 {
				name = pkg + "." + recvName(fd.Recv.List[0].Type) + "." + fd.Name.Name
			}
			top := &funcInfo{name: name, short: fd.Name.Name, pkg: pkg, pos: fset.Position(fd.Pos()).String()}
			funcs = append(funcs, top)
			byShort[top.short] = append(byShort[top.short], top)
			scan(fset, fd.Body, top, &funcs, allowed, callers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A function is narrated when it is a step body, or when it has
	// callers, every one of them narrated, and a chain of calls from a
	// step body reaches it. That is a greatest fixpoint (drop, until
	// nothing changes, every function with a caller not narrated), so
	// that recursion only steps enter (copyTree's dir ↔ subdir) counts,
	// cut to what a step body reaches (a least fixpoint from them), so
	// that a cycle nothing calls does not.
	//
	// Callers are known by name only (no type checking): an unexported
	// function or method can only be called from its own package, so
	// calls from elsewhere are some other function's of the same name.
	callersOf := func(f *funcInfo) []*funcInfo {
		var cs []*funcInfo
		for _, c := range callers[f.short] {
			if token.IsExported(f.short) || c.pkg == f.pkg {
				cs = append(cs, c)
			}
		}
		return cs
	}
	narrated := map[*funcInfo]bool{}
	for _, f := range funcs {
		narrated[f] = f.inStep || (f.short != "" && len(callersOf(f)) > 0)
	}
	for changed := true; changed; {
		changed = false
		for _, f := range funcs {
			if !narrated[f] || f.inStep {
				continue
			}
			for _, c := range callersOf(f) {
				// c.inStep: a named step body ("Do: cr.startInit") is
				// recorded as a caller that is in no list of funcs.
				if !narrated[c] && !c.inStep {
					narrated[f], changed = false, true
					break
				}
			}
		}
	}
	reached := map[*funcInfo]bool{}
	for _, f := range funcs {
		reached[f] = f.inStep
	}
	for changed := true; changed; {
		changed = false
		for _, f := range funcs {
			if reached[f] || !narrated[f] {
				continue
			}
			for _, c := range callersOf(f) {
				if c.inStep || reached[c] {
					reached[f], changed = true, true
					break
				}
			}
		}
	}
	for f := range narrated {
		narrated[f] = narrated[f] && reached[f]
	}
	var bad []string
	for _, f := range funcs {
		if narrated[f] {
			continue
		}
		for _, h := range f.hits {
			bad = append(bad, fmt.Sprintf("%s in %s", h, f.name))
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("side door: %s: outside every step's Do/Undo (route it through a step, or mark it //%s REASON)", b, noStep)
	}
}

// scan walks a function body: a step's Do/Undo literal becomes a function of
// its own (in a step); other function literals are part of their parent.
func scan(fset *token.FileSet, body ast.Node, cur *funcInfo, funcs *[]*funcInfo, allowed map[int]bool, callers map[string][]*funcInfo) {
	assigned := assignments(body)
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			// step.Do = func() error {…}: a step built by a constructor
			// whose Do is filled in afterwards (images-layer-extract) is
			// as much a step's Do as the literal field.
			if len(n.Lhs) != 1 || len(n.Rhs) != 1 {
				return true
			}
			sel, ok := n.Lhs[0].(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Do" && sel.Sel.Name != "Undo") {
				return true
			}
			if fl, ok := n.Rhs[0].(*ast.FuncLit); ok {
				sub := &funcInfo{name: cur.name + "." + sel.Sel.Name, pkg: cur.pkg, pos: fset.Position(fl.Pos()).String(), inStep: true}
				*funcs = append(*funcs, sub)
				scan(fset, fl.Body, sub, funcs, allowed, callers)
				return false
			}
		case *ast.KeyValueExpr:
			k, ok := n.Key.(*ast.Ident)
			if !ok || (k.Name != "Do" && k.Name != "Undo") {
				return true
			}
			if fl, ok := n.Value.(*ast.FuncLit); ok {
				sub := &funcInfo{name: cur.name + "." + k.Name, pkg: cur.pkg, pos: fset.Position(fl.Pos()).String(), inStep: true}
				*funcs = append(*funcs, sub)
				scan(fset, fl.Body, sub, funcs, allowed, callers)
				return false
			}
			// Do: someFunc — the named function is a step body's.
			if id := calleeName(n.Value); id != "" {
				callers[id] = append(callers[id], &funcInfo{pkg: cur.pkg, inStep: true})
			}
		case *ast.CallExpr:
			full, short := callName(n.Fun)
			if short != "" {
				callers[short] = append(callers[short], cur)
			}
			pos := fset.Position(n.Pos())
			if allowed[pos.Line] {
				return true
			}
			if hostChanging[full] || (hostMethods[short] && full != short && !strings.HasPrefix(full, "netlink.") && !strings.HasPrefix(full, "unix.")) {
				cur.hits = append(cur.hits, fmt.Sprintf("%s:%d %s", filepath.Base(pos.Filename), pos.Line, full))
			}
			if (full == "os.WriteFile" || full == "writeFile") && len(n.Args) > 0 {
				if s := litPrefix(n.Args[0]); s != "" {
					for _, w := range writesUnder {
						if strings.HasPrefix(s, w) {
							cur.hits = append(cur.hits, fmt.Sprintf("%s:%d write %s", filepath.Base(pos.Filename), pos.Line, s))
						}
					}
				}
				if name := etcName(n.Args[0], assigned); name != "" {
					cur.hits = append(cur.hits, fmt.Sprintf("%s:%d write the container's /etc/%s", filepath.Base(pos.Filename), pos.Line, name))
				}
			}
		}
		return true
	})
}

// assignments maps each variable assigned in body (x := …, x, y = …, …)
// to the expressions it is given, for etcName to look through.
func assignments(body ast.Node) map[string][]ast.Expr {
	out := map[string][]ast.Expr{}
	ast.Inspect(body, func(n ast.Node) bool {
		a, ok := n.(*ast.AssignStmt)
		if !ok || len(a.Lhs) != len(a.Rhs) {
			return true
		}
		for i, l := range a.Lhs {
			if id, ok := l.(*ast.Ident); ok {
				out[id.Name] = append(out[id.Name], a.Rhs[i])
			}
		}
		return true
	})
	return out
}

// etcName returns the container /etc file a path expression names: a
// string literal of etcNames in it (filepath.Join(dir, "hosts")), or in
// an expression its variables were assigned in the same function.
func etcName(e ast.Expr, assigned map[string][]ast.Expr) string {
	found := ""
	seen := map[string]bool{}
	var walk func(ast.Node)
	walk = func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch v := n.(type) {
			case *ast.BasicLit:
				if s := strings.Trim(v.Value, "\"`"); etcNames[s] && found == "" {
					found = s
				}
			case *ast.Ident:
				if !seen[v.Name] {
					seen[v.Name] = true
					for _, r := range assigned[v.Name] {
						walk(r)
					}
				}
			}
			return true
		})
	}
	walk(e)
	return found
}

func callName(e ast.Expr) (full, short string) {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name, f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return x.Name + "." + f.Sel.Name, f.Sel.Name
		}
		return "?." + f.Sel.Name, f.Sel.Name
	}
	return "", ""
}

func calleeName(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// litPrefix returns the leading string literal of a path expression
// ("/proc/sys/" + k, filepath.Join("/sys/fs/cgroup", …)).
func litPrefix(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.BasicLit:
		return strings.Trim(v.Value, "\"`")
	case *ast.BinaryExpr:
		return litPrefix(v.X)
	case *ast.CallExpr:
		if len(v.Args) > 0 {
			return litPrefix(v.Args[0])
		}
	}
	return ""
}

func recvName(e ast.Expr) string {
	switch r := e.(type) {
	case *ast.StarExpr:
		return recvName(r.X)
	case *ast.Ident:
		return r.Name
	case *ast.IndexExpr:
		return recvName(r.X)
	}
	return "?"
}
