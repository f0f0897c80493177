package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// A lab page (docs/labs/NAME.md) is Markdown for students, and also the
// script its integration test runs. The runnable parts are the fenced
// ```sh blocks, in order; display-only blocks use another language tag
// (```text). Right after a block, HTML comments (invisible on GitHub) say
// what the student should see:
//
//	<!-- expect: TEXT -->       the block's output (stdout and stderr) contains TEXT
//	<!-- expect-not: TEXT -->   ... does not contain TEXT
//	<!-- expect-exit: N -->     the block exits with status N (default 0)
//	<!-- expect-fail -->        the block exits with any status but 0
//
// and a line <!-- cleanup --> starts the cleanup: every ```sh block after it
// is run at the end, whatever happened before. Blocks run one after the
// other in the same shell session's spirit: a variable a block sets
// (PID=$(...)) is there for the next ones.

// Block is one ```sh block of a lab page.
type Block struct {
	Line      int    // the line of its opening fence, 1-based
	Script    string // the commands, as the student types them
	Expect    []string
	ExpectNot []string
	Exit      int  // the wanted exit status, unless AnyFail
	AnyFail   bool // any non-zero status is wanted
	Cleanup   bool
}

// Guide is a lab page's runnable content.
type Guide struct {
	Steps   []Block
	Cleanup []Block
}

// ParseGuide reads a lab page. A marker it does not know, or one that
// follows no block, is an error: a typo must not silently drop a check.
func ParseGuide(md []byte) (*Guide, error) {
	g := &Guide{}
	sc := bufio.NewScanner(bytes.NewReader(md))
	var (
		cur       *Block // the block being read, between its fences
		last      *Block // the block markers attach to
		cleanup   bool
		fence     string
		lineNo    int
		inDisplay bool // inside a fenced block that is not ```sh
	)
	add := func(b Block) *Block {
		if b.Cleanup {
			g.Cleanup = append(g.Cleanup, b)
			return &g.Cleanup[len(g.Cleanup)-1]
		}
		g.Steps = append(g.Steps, b)
		return &g.Steps[len(g.Steps)-1]
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil:
			if trimmed == fence {
				last = add(*cur)
				cur = nil
				continue
			}
			cur.Script += line + "\n"
			continue
		case inDisplay:
			if trimmed == fence {
				inDisplay = false
			}
			continue
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
			if strings.TrimPrefix(trimmed, "```") == "sh" {
				cur = &Block{Line: lineNo, Cleanup: cleanup}
			} else {
				inDisplay = true
			}
			last = nil
			continue
		}
		marker, ok, err := parseMarker(trimmed)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if !ok {
			if trimmed != "" {
				last = nil // prose ends the markers of the block above
			}
			continue
		}
		if marker.name == "cleanup" {
			cleanup = true
			last = nil
			continue
		}
		if last == nil {
			return nil, fmt.Errorf("line %d: %s follows no ```sh block", lineNo, trimmed)
		}
		switch marker.name {
		case "expect":
			last.Expect = append(last.Expect, marker.arg)
		case "expect-not":
			last.ExpectNot = append(last.ExpectNot, marker.arg)
		case "expect-exit":
			n, err := strconv.Atoi(marker.arg)
			if err != nil {
				return nil, fmt.Errorf("line %d: expect-exit %q: %w", lineNo, marker.arg, err)
			}
			last.Exit = n
		case "expect-fail":
			last.AnyFail = true
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: ```sh block never closed", cur.Line)
	}
	return g, sc.Err()
}

type marker struct{ name, arg string }

// parseMarker recognises <!-- NAME[: ARG] --> for the names above. Other
// HTML comments are prose, but one that starts like a marker and is not a
// valid one is an error.
func parseMarker(s string) (marker, bool, error) {
	if !strings.HasPrefix(s, "<!--") || !strings.HasSuffix(s, "-->") {
		return marker{}, false, nil
	}
	body := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "<!--"), "-->"))
	name, arg, hasArg := strings.Cut(body, ":")
	name, arg = strings.TrimSpace(name), strings.TrimSpace(arg)
	switch name {
	case "expect", "expect-not", "expect-exit":
		if arg != "" {
			return marker{name, arg}, true, nil
		}
	case "expect-fail", "cleanup":
		if !hasArg {
			return marker{name, ""}, true, nil
		}
	default:
		if !strings.HasPrefix(body, "expect") && !strings.HasPrefix(body, "cleanup") {
			return marker{}, false, nil
		}
	}
	return marker{}, false, fmt.Errorf("bad marker %s", s)
}

// Check reports what is wrong with a guide's output: nil when the block's
// exit status and output are what its markers say.
func (b *Block) Check(output string, status int) error {
	switch {
	case b.AnyFail && status == 0:
		return fmt.Errorf("exit status 0, want a failure")
	case !b.AnyFail && status != b.Exit:
		return fmt.Errorf("exit status %d, want %d", status, b.Exit)
	}
	for _, e := range b.Expect {
		if !strings.Contains(output, e) {
			return fmt.Errorf("output does not contain %q", e)
		}
	}
	for _, e := range b.ExpectNot {
		if strings.Contains(output, e) {
			return fmt.Errorf("output contains %q", e)
		}
	}
	return nil
}

// Assigned lists the shell variables a block sets at the start of a line
// (NAME=...), so a runner can carry them to the next blocks.
func (b *Block) Assigned() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(b.Script, "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(l, "export ")
		name, _, ok := strings.Cut(l, "=")
		if !ok || !isVarName(name) || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

func isVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
