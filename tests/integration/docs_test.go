//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/minirun/minirun/lab"
)

// The course pages (docs/*.md, docs/labs/*.md) show shell commands; a
// ```sh block whose fence comes right after the line
//
//	<!-- runnable -->
//
// promises that it runs as written on the class machine, as root, offline,
// with the images the course builds (busybox; minirun/webserver,
// minirun/contador and minirun/redis from images/). TestDocs keeps that
// promise honest: it runs every marked block and fails naming the page, the
// line and the block's output. docs/README.md states the convention for
// the authors.
//
// The pages of the labs (docs/labs/NAME.md for every lab.All()) need no
// mark: TestLabs runs all their ```sh blocks, in order, with their expect
// markers. A mark there is an error, so no one believes it means more.
const runnableMark = "<!-- runnable -->"

// docBlock is one marked block of a page.
type docBlock struct {
	Line   int // the line of its opening fence, 1-based
	Script string
}

// docPage is a page's marked blocks, and what is wrong with the page.
type docPage struct {
	Blocks []docBlock
	Long   []string // "line N: M columns" for code lines over 80
}

// parseDocPage reads a page: its marked ```sh blocks, and the lines of
// any fenced block (sh, text, json…) wider than the projector's 80
// columns. A mark that is not right before a ```sh fence is an error.
func parseDocPage(md []byte) (*docPage, error) {
	p := &docPage{}
	sc := bufio.NewScanner(bytes.NewReader(md))
	var (
		lineNo   int
		marked   int       // line of a mark waiting for its fence (0: none)
		inFence  bool      // between fences
		fence    string    // the opening fence's backticks
		cur      *docBlock // the marked block being read
		fenceTag string
	)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if inFence {
			if trimmed == fence {
				inFence = false
				if cur != nil {
					p.Blocks = append(p.Blocks, *cur)
					cur = nil
				}
				continue
			}
			if n := utf8.RuneCountInString(line); n > 80 {
				p.Long = append(p.Long, fmt.Sprintf("line %d: %d columns", lineNo, n))
			}
			if cur != nil {
				cur.Script += line + "\n"
			}
			continue
		}
		// CommonMark: the info string of a backtick fence has no
		// backtick, so "```` ```sh ````" starting a line is inline code.
		if strings.HasPrefix(trimmed, "```") && !strings.Contains(strings.TrimLeft(trimmed, "`"), "`") {
			fence = "```"
			fenceTag = strings.TrimPrefix(trimmed, "```")
			inFence = true
			if marked != 0 {
				if fenceTag != "sh" {
					return nil, fmt.Errorf("line %d: %s before a ```%s block: only ```sh blocks run", marked, runnableMark, fenceTag)
				}
				cur = &docBlock{Line: lineNo}
				marked = 0
			}
			continue
		}
		if marked != 0 {
			return nil, fmt.Errorf("line %d: %s is not on the line right before a ```sh fence", marked, runnableMark)
		}
		if trimmed == runnableMark {
			marked = lineNo
		} else if strings.HasPrefix(trimmed, "<!--") && strings.Contains(trimmed, "runnable") {
			return nil, fmt.Errorf("line %d: %q: the mark is exactly %s", lineNo, trimmed, runnableMark)
		}
	}
	if marked != 0 {
		return nil, fmt.Errorf("line %d: %s at the end of the page", marked, runnableMark)
	}
	if inFence {
		return nil, fmt.Errorf("a ``` fence is never closed")
	}
	return p, sc.Err()
}

// TestDocsParse checks the reader of the mark on small pages, so a typo in
// a mark fails instead of silently dropping a block from TestDocs.
func TestDocsParse(t *testing.T) {
	good := "text\n```` ```sh ```` is inline code\n" + runnableMark + "\n```sh\necho a\necho b\n```\n\n```sh\nnot run\n```\n" +
		"```text\n" + strings.Repeat("x", 81) + "\n```\n"
	p, err := parseDocPage([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Blocks) != 1 || p.Blocks[0].Line != 4 || p.Blocks[0].Script != "echo a\necho b\n" {
		t.Errorf("blocks: %+v", p.Blocks)
	}
	if len(p.Long) != 1 || p.Long[0] != "line 13: 81 columns" {
		t.Errorf("long lines: %v", p.Long)
	}
	for name, bad := range map[string]string{
		"mark before text":   runnableMark + "\n```text\nx\n```\n",
		"gap before fence":   runnableMark + "\n\n```sh\nx\n```\n",
		"mark at the end":    "x\n" + runnableMark + "\n",
		"misspelt mark":      "<!-- runable -->\n```sh\nx\n```\n<!-- runnable: yes -->\n```sh\nx\n```\n",
		"fence never closed": "```sh\nx\n",
	} {
		if _, err := parseDocPage([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// docPages lists the course pages, relative to the repository.
func docPages(t *testing.T) []string {
	t.Helper()
	var pages []string
	for _, pat := range []string{"docs/*.md", "docs/labs/*.md"} {
		m, err := filepath.Glob(repoPath(pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(repoPath(""), f)
			pages = append(pages, rel)
		}
	}
	sort.Strings(pages)
	if len(pages) == 0 {
		t.Fatal("no pages under docs/")
	}
	return pages
}

// TestDocsColumns checks that every line of every code block fits the
// projector: 80 columns.
func TestDocsColumns(t *testing.T) {
	for _, page := range docPages(t) {
		md, err := os.ReadFile(repoPath(page))
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseDocPage(md)
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		for _, l := range p.Long {
			t.Errorf("%s: %s (the projector has 80)", page, l)
		}
	}
}

// TestDocs runs every block marked runnable, page by page. A page's
// blocks run in order in one shell session (labShell: variables a block
// sets and the directory it cd'ed to carry over, so a later block may use
// the container an earlier one started), each block with bash's
// `set -euo pipefail`, in a temp directory, with `minirun` on PATH being
// the suite's binary with the suite's --root and --data-root. Paths of
// the default roots in a block (/run/minirun, /var/lib/minirun) are read
// as the suite's, and /minirun (the checkout in the course VM) as this
// checkout. The test runs as root, so `sudo CMD` runs CMD with the
// session's PATH (the real sudo would reset PATH to its secure_path).
//
// A block that fails stops its page. When a page ends, any container,
// network or volume its blocks left is a failure (the page must show its
// cleanup) and is removed.
func TestDocs(t *testing.T) {
	labPages := map[string]bool{}
	for _, l := range lab.All() {
		labPages[l.Page()] = true
	}
	total := 0
	for _, page := range docPages(t) {
		md, err := os.ReadFile(repoPath(page))
		if err != nil {
			t.Fatal(err)
		}
		p, err := parseDocPage(md)
		if err != nil {
			t.Errorf("%s: %v", page, err)
			continue
		}
		if labPages[page] {
			if len(p.Blocks) > 0 {
				t.Errorf("%s:%d: a lab page needs no %s: TestLabs runs all its ```sh blocks", page, p.Blocks[0].Line-1, runnableMark)
			}
			continue
		}
		if len(p.Blocks) == 0 {
			continue
		}
		total += len(p.Blocks)
		page := page
		t.Run(strings.TrimSuffix(strings.TrimPrefix(page, "docs/"), ".md"), func(t *testing.T) {
			runDocPage(t, page, p.Blocks)
		})
	}
	t.Logf("%d runnable blocks", total)
}

// courseImage says which of the course's images a block names.
var courseImage = regexp.MustCompile(`minirun/(webserver|contador|redis)\b`)

func runDocPage(t *testing.T, page string, blocks []docBlock) {
	sh := newLabShell(t)
	// sudo, for a root session: run the command as is, keeping PATH.
	// Only the plain form is accepted, so an option the real sudo would
	// understand is not silently ignored.
	sudo := "#!/bin/sh\ncase $1 in -*) echo \"docs test: sudo $1 is not supported\" >&2; exit 2;; esac\nexec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(sh.dir, "bin", "sudo"), []byte(sudo), 0o755); err != nil {
		t.Fatal(err)
	}
	roots := strings.NewReplacer("/run/minirun", stateRoot, "/var/lib/minirun", dataRoot)
	repoRewrite := sh.rewrite
	sh.rewrite = func(s string) string { return roots.Replace(repoRewrite(s)) }
	// Each page starts in its own empty directory.
	work := filepath.Join(sh.dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sh.cwd, []byte(work), 0o644); err != nil {
		t.Fatal(err)
	}

	ctrsBefore, netsBefore := labObjects(t)
	volsBefore := labVolumes(t)
	defer func() {
		ctrs, nets := labObjects(t)
		if left := newNames(ctrsBefore, ctrs); len(left) > 0 {
			t.Errorf("%s: the blocks left containers: %v (the page must remove them)", page, left)
			for _, n := range left {
				mr(t, "rm", "-f", n)
			}
		}
		if left := newNames(netsBefore, nets); len(left) > 0 {
			t.Errorf("%s: the blocks left networks: %v", page, left)
			for _, n := range left {
				mr(t, "network", "rm", n)
			}
		}
		if left := newNames(volsBefore, labVolumes(t)); len(left) > 0 {
			t.Errorf("%s: the blocks left volumes: %v", page, left)
			for _, n := range left {
				mr(t, "volume", "rm", n)
			}
		}
	}()

	for _, b := range blocks {
		if skip := needDocImages(t, sh, b.Script); skip != "" {
			t.Logf("%s:%d: skipped: %s", page, b.Line, skip)
			continue
		}
		out, code := sh.run(t, lab.Block{Line: b.Line, Script: "set -u\n" + b.Script})
		if testing.Verbose() {
			t.Logf("%s:%d: exit %d\n%s", page, b.Line, code, out)
		}
		if code != 0 {
			t.Errorf("%s:%d: exit %d\n--- block:\n%s--- output:\n%s", page, b.Line, code, b.Script, out)
			return // the next blocks may need this one
		}
	}
}

var (
	webserverOnce sync.Once
	webserverErr  error
)

// needDocImages builds the course images a block names, the way
// scripts/provision.sh does (images/build.sh). It returns why the block
// cannot run here ("" when it can): the redis image copies Debian's
// redis-server, and a machine without the package and offline has none.
func needDocImages(t *testing.T, sh *labShell, script string) string {
	t.Helper()
	need := map[string]bool{}
	for _, m := range courseImage.FindAllStringSubmatch(script, -1) {
		need[m[1]] = true
	}
	if need["webserver"] {
		webserverOnce.Do(func() {
			cmd := exec.Command("bash", repoPath("images/build.sh"), "webserver")
			cmd.Env = append(os.Environ(), "PATH="+sh.path, "MINIRUN=minirun")
			if out, err := cmd.CombinedOutput(); err != nil {
				webserverErr = fmt.Errorf("images/build.sh webserver: %v\n%s", err, out)
			}
		})
		if webserverErr != nil {
			t.Fatal(webserverErr)
		}
	}
	if need["contador"] || need["redis"] {
		// needCourseImages calls t.Skip when redis cannot be built; run it
		// in a subtest so only this block is skipped, not the page.
		t.Run("course-images", func(t *testing.T) { needCourseImages(t) })
		if courseImagesErr != nil {
			t.FailNow() // the subtest said why
		}
		return courseImagesSkip
	}
	return ""
}
