package explain

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// DeckSlide is one slide of the course's deck as a projector shows it: its
// number in display order (the title slide is 1) and its title, as the deck
// writes it.
type DeckSlide struct {
	Num   int
	Title string
}

// ParseDeck reads a remark.js deck (https://github.com/gnab/remark/wiki) and
// returns its slides in display order.
//
// The rules, in the order remark applies them:
//   - a line that is exactly "---" starts a new slide;
//   - a line "--" adds to the slide on screen (an incremental step): the
//     projector still shows the same slide, so it keeps its number;
//   - a slide whose properties (the "key: value" lines at its top) include
//     "layout: true" is a template, never shown: it gets no number;
//   - "???" starts the speaker's notes, which are not on screen;
//   - the title is the slide's first Markdown heading ("# Bridge", or
//     "#LAB", which remark also renders as a heading), with no "#".
//
// A slide with no heading gets the empty title; an empty part after the last
// separator is no slide.
func ParseDeck(r io.Reader) ([]DeckSlide, error) {
	var parts [][]string
	cur := []string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "---" {
			parts = append(parts, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read deck: %w", err)
	}
	parts = append(parts, cur)

	var out []DeckSlide
	for _, p := range parts {
		body, layout := slideBody(p)
		if layout || blank(body) {
			continue
		}
		out = append(out, DeckSlide{Num: len(out) + 1, Title: slideTitle(body)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read deck: no slides")
	}
	return out, nil
}

// slideBody drops a slide's properties and its speaker notes, and reports
// whether the properties made it a layout template.
func slideBody(lines []string) (body []string, layout bool) {
	i := 0
	for ; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || strings.ContainsAny(k, " #[(") || k == "" {
			break
		}
		if strings.TrimSpace(k) == "layout" && strings.TrimSpace(v) == "true" {
			layout = true
		}
	}
	for _, l := range lines[i:] {
		if l == "???" {
			break
		}
		body = append(body, l)
	}
	return body, layout
}

func slideTitle(body []string) string {
	for _, l := range body {
		if strings.HasPrefix(l, "#") {
			return strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
	}
	return ""
}

func blank(lines []string) bool {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" && l != "--" {
			return false
		}
	}
	return true
}
