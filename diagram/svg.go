package diagram

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Sizes of the drawing, in SVG user units. One panel alone is drawn on a
// 800×450 canvas, four (2×2) or five (3+2) on 1280×720: either fills a
// 16:9 projector with 16-unit labels that stay legible once the page
// scales the picture down beside the step's text.
const (
	titleH   = 44
	pad      = 14
	headH    = 34
	labelPx  = 16
	linePx   = 14
	lineH    = 19
	rowGap   = 10
	colGap   = 36
	charW    = 0.62 // average advance of a character, in font sizes
	nodeHead = 26
	minColW  = 160 // a column narrower than this is drawn smaller instead
)

// style is the drawing's own stylesheet. The page overrides it for the
// high-contrast mode (same class names), so the SVG file and the page
// look alike.
const style = `
.bg{fill:#ffffff}
.panel{fill:#f5f6f8;stroke:#8a8f99;stroke-width:1.5}
.ptitle{font:bold 20px sans-serif;fill:#111}
.title{font:bold 22px sans-serif;fill:#111}
.node rect{stroke:#333;stroke-width:1.5}
.host rect{fill:#dde8f6}
.container rect{fill:#fde4c4}
.shared rect{fill:#f9c9c9;stroke:#b00000;stroke-dasharray:6 3}
.file rect{fill:#d9f0d9}
.rule rect{fill:#e9def6}
.changed rect{stroke:#d40000;stroke-width:4}
.label{font:bold 16px sans-serif;fill:#111}
.line{font:14px monospace;fill:#222}
.edge{stroke:#444;stroke-width:2}
.elabel{font:13px sans-serif;fill:#222}
.note{font:italic 18px sans-serif;fill:#444}
`

// SVG draws the diagram's panels named in only (all when empty) as one
// SVG document. Every string goes through xml.EscapeText, so a file name
// written in a container ("<script>") is text, never markup. Each node
// also carries its full text in a <title> (a tooltip), since long lines
// are shortened to fit their box.
func SVG(w io.Writer, d *Diagram, only []string) error {
	var panels []Panel
	for _, p := range d.Panels {
		if len(only) == 0 || contains(only, p.ID) {
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		panels = d.Panels
	}
	pw, ph, cols := 640.0, 360.0, 2
	switch {
	case len(panels) == 1:
		pw, ph, cols = 800, 450, 1
	case len(panels) > 4:
		// Five or six panels: three columns keep the 1280×720 canvas.
		pw, cols = 1280.0/3, 3
	}
	rows := (len(panels) + cols - 1) / cols
	top := 0.0
	if d.Title != "" {
		top = titleH
	}
	W, H := pw*float64(cols), ph*float64(rows)+top
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img">`, W, H, W, H)
	b.WriteString("<style>" + style + "</style>\n")
	fmt.Fprintf(&b, `<rect class="bg" x="0" y="0" width="%g" height="%g"/>`+"\n", W, H)
	if d.Title != "" {
		fmt.Fprintf(&b, `<text class="title" x="%d" y="30">%s</text>`+"\n", pad, esc(clip(d.Title, int(W/(22*charW)))))
	}
	for i, p := range panels {
		x := float64(i%cols) * pw
		y := top + float64(i/cols)*ph
		drawPanel(&b, p, x, y, pw, ph)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// clip shortens s to n characters, marking the cut.
func clip(s string, n int) string {
	if n < 4 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// clipLine shortens a line to n characters; a path keeps its end (the
// container's id and diff/work/merged say more than /var/lib/…).
func clipLine(s string, n int) string {
	r := []rune(s)
	if n < 8 || len(r) <= n || !strings.HasPrefix(s, "/") {
		return clip(s, n)
	}
	return "…" + string(r[len(r)-n+1:])
}

type box struct{ x, y, w, h float64 }

func nodeHeight(n Node) float64 { return nodeHead + lineH*float64(len(n.Lines)) + 6 }

// drawPanel lays the panel's nodes on its grid: columns share the width;
// each row is as tall as its tallest node. When the rows do not fit, the
// panel's content is scaled down as a whole rather than cut.
func drawPanel(b *bytes.Buffer, p Panel, x, y, w, h float64) {
	fmt.Fprintf(b, `<g class="panelg" id="panel-%s">`, esc(p.ID))
	fmt.Fprintf(b, `<rect class="panel" x="%g" y="%g" width="%g" height="%g" rx="8"/>`, x+4, y+4, w-8, h-8)
	fmt.Fprintf(b, `<text class="ptitle" x="%g" y="%g">%s</text>`+"\n", x+pad, y+28, esc(p.Title))
	if p.Note != "" {
		fmt.Fprintf(b, `<text class="note" x="%g" y="%g">%s</text>`+"\n", x+pad, y+headH+40, esc(p.Note))
	}
	cols, rows := 1, 0
	for _, n := range p.Nodes {
		cols = max(cols, n.Col+1)
		rows = max(rows, n.Row+1)
	}
	rowH := make([]float64, rows)
	for _, n := range p.Nodes {
		rowH[n.Row] = max(rowH[n.Row], nodeHeight(n))
	}
	rowY := make([]float64, rows)
	total := 0.0
	for r := range rows {
		rowY[r] = total
		if rowH[r] > 0 {
			total += rowH[r] + rowGap
		}
	}
	availW, availH := w-2*pad, h-headH-2*pad
	scale := 1.0
	if total > availH {
		scale = availH / total
	}
	// Too many columns for the width: shrink rather than cut the labels
	// to a few characters (a pid cut in half says nothing).
	if need := minColW*float64(cols) + colGap*float64(cols-1); need*scale > availW {
		scale = availW / need
	}
	colW := (availW/scale - colGap*float64(cols-1)) / float64(cols)
	fmt.Fprintf(b, `<g transform="translate(%g %g) scale(%.3f)">`+"\n", x+pad, y+headH+pad, scale)
	boxes := map[string]box{}
	for _, n := range p.Nodes {
		boxes[n.ID] = box{float64(n.Col) * (colW + colGap), rowY[n.Row], colW, nodeHeight(n)}
	}
	for _, e := range p.Edges {
		a, ok1 := boxes[e.From]
		c, ok2 := boxes[e.To]
		if !ok1 || !ok2 {
			continue
		}
		x1, y1, x2, y2 := anchors(a, c)
		fmt.Fprintf(b, `<line class="edge" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x1, y1, x2, y2)
		if e.Label != "" {
			fmt.Fprintf(b, `<text class="elabel" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, (x1+x2)/2, (y1+y2)/2-4, esc(e.Label))
		}
		b.WriteString("\n")
	}
	chars := int(colW / (linePx * charW))
	for _, n := range p.Nodes {
		bx := boxes[n.ID]
		cls := "node " + n.Class
		if n.Changed {
			cls += " changed"
		}
		fmt.Fprintf(b, `<g class="%s" id="%s"><title>%s</title>`, cls, esc("n-"+n.ID), esc(strings.Join(append([]string{n.Label}, n.Lines...), "\n")))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="5"/>`, bx.x, bx.y, bx.w, bx.h)
		fmt.Fprintf(b, `<text class="label" x="%.1f" y="%.1f">%s</text>`, bx.x+8, bx.y+20, esc(clip(n.Label, int(colW/(labelPx*0.68)))))
		for i, l := range n.Lines {
			fmt.Fprintf(b, `<text class="line" x="%.1f" y="%.1f">%s</text>`, bx.x+8, bx.y+nodeHead+lineH*float64(i)+12, esc(clipLine(l, chars)))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g></g>\n")
}

// anchors picks where an edge meets its boxes: side to side between
// columns, bottom to top within one.
func anchors(a, c box) (x1, y1, x2, y2 float64) {
	switch {
	case a.x+a.w <= c.x:
		return a.x + a.w, a.y + a.h/2, c.x, c.y + c.h/2
	case c.x+c.w <= a.x:
		return a.x, a.y + a.h/2, c.x + c.w, c.y + c.h/2
	case a.y < c.y:
		return a.x + a.w/2, a.y + a.h, c.x + c.w/2, c.y
	}
	return a.x + a.w/2, a.y, c.x + c.w/2, c.y + c.h
}
