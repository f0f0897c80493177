package explain

import (
	"os"
	"strings"
)

// Lang selects the language of the narration.
type Lang string

// The languages minirun speaks. Portuguese comes first: it is the course's.
const (
	PT   Lang = "pt"
	EN   Lang = "en"
	Both Lang = "pt+en"
)

// ParseLang turns a --lang value or a locale (pt_BR.UTF-8, en_US, C) into a
// Lang. Anything that is not recognisably English falls back to Portuguese,
// the language of the course.
func ParseLang(s string) Lang {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "pt+en" || s == "both" || s == "en+pt":
		return Both
	case strings.HasPrefix(s, "en"):
		return EN
	default:
		return PT
	}
}

// LangFromEnv picks the language from an explicit flag value, then from
// LC_ALL, LC_MESSAGES and LANG, as gettext does.
func LangFromEnv(flag string) Lang {
	if flag != "" {
		return ParseLang(flag)
	}
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := os.Getenv(k); v != "" && v != "C" && v != "POSIX" {
			return ParseLang(v)
		}
	}
	return PT
}

// Text is one sentence in both languages.
type Text struct {
	PT string `json:"pt"`
	EN string `json:"en"`
}

// In returns the text in lang; Both joins them, Portuguese first.
func (t Text) In(lang Lang) string {
	switch lang {
	case EN:
		return t.EN
	case Both:
		return t.PT + " / " + t.EN
	default:
		return t.PT
	}
}

// Step is one visible operation of minirun.
//
// Do performs it; Undo, when set, reverses it and is registered on the
// caller's cleanup stack right after Do succeeds; Evidence, when set, is
// called after Do to show the student what changed (an inode, a mount line,
// a file's content).
type Step struct {
	// ID is stable across releases: tests, docs anchors and --step refer to it.
	ID string `json:"id"`
	// Chapter groups steps for `minirun explain CHAPTER`.
	Chapter Chapter `json:"chapter"`
	// Title says what the step does.
	Title Text `json:"title"`
	// Why says, in one line, why it is needed.
	Why Text `json:"why"`
	// Shell is what a student would type to do the same by hand. It may use
	// shell variables ($PID, $ROOTFS) for values known only at run time.
	Shell string `json:"shell"`
	// UndoShell is what a student would type to undo the step by hand
	// (the shell side of Undo), e.g. "umount $ROOTFS"; `explain --shell`
	// builds its teardown from it. Empty when the step leaves nothing a
	// shell must remove, such as a mount made inside the container's own
	// mount namespace, which goes away with it.
	UndoShell string `json:"undoShell,omitempty"`
	// Init is true for a step that the container's init runs inside its
	// new namespaces, between the clone and the execve: a shell runs its
	// Shell there, not on the host.
	Init bool `json:"init,omitempty"`

	Do       func() error  `json:"-"`
	Undo     func() error  `json:"-"`
	Evidence func() string `json:"-"`
	// EvidenceText, when set instead of Evidence, is evidence that needs
	// words besides its values ("3 regras em ip minirun"): the narration
	// shows it in the student's language only.
	EvidenceText func() Text `json:"-"`
}

// Anchor is the place in docs/ that explains the step, e.g.
// "docs/namespaces.md#ns-clone". Each chapter has one page.
func (s *Step) Anchor() string {
	return "docs/" + string(s.Chapter) + ".md#" + s.ID
}

// Plan is an ordered list of steps, built without side effects and then
// either executed (Tracer.Run) or only printed (a dry run).
type Plan []Step
