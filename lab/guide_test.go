package lab

import (
	"reflect"
	"strings"
	"testing"
)

const sampleGuide = "# Lab\n\n**pt** — texto.\n\n```sh\nminirun lab check x\n```\n<!-- expect-exit: 1 -->\n<!-- expect: dica: -->\n\n" +
	"```text\n```sh inside a display block is not run\n```\n\n" +
	"```sh\nPID=$(minirun inspect a | jq .[0].State.Pid)\n  export CG=/sys\necho $PID\n```\n\n<!-- expect: 1 -->\n<!-- expect-not: erro -->\n\n" +
	"Prosa.\n\n```sh\nminirun exec a ls /nada\n```\n<!-- expect-fail -->\n<!-- a comment that is not a marker -->\n\n" +
	"## Limpeza\n\n<!-- cleanup -->\n\n```sh\nminirun rm -f a\n```\n"

func TestParseGuide(t *testing.T) {
	g, err := ParseGuide([]byte(sampleGuide))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Steps) != 3 || len(g.Cleanup) != 1 {
		t.Fatalf("%d steps, %d cleanup: %+v", len(g.Steps), len(g.Cleanup), g)
	}
	s0, s1, s2 := g.Steps[0], g.Steps[1], g.Steps[2]
	if s0.Script != "minirun lab check x\n" || s0.Exit != 1 || !reflect.DeepEqual(s0.Expect, []string{"dica:"}) || s0.Line != 5 {
		t.Errorf("step 0: %+v", s0)
	}
	if !reflect.DeepEqual(s1.Expect, []string{"1"}) || !reflect.DeepEqual(s1.ExpectNot, []string{"erro"}) {
		t.Errorf("step 1 markers: %+v", s1)
	}
	if got := s1.Assigned(); !reflect.DeepEqual(got, []string{"PID", "CG"}) {
		t.Errorf("Assigned = %v", got)
	}
	if !s2.AnyFail {
		t.Errorf("step 2: %+v", s2)
	}
	if c := g.Cleanup[0]; !c.Cleanup || c.Script != "minirun rm -f a\n" {
		t.Errorf("cleanup: %+v", c)
	}
}

func TestParseGuideErrors(t *testing.T) {
	for name, md := range map[string]string{
		"marker after prose":  "```sh\ntrue\n```\nprose\n<!-- expect: x -->\n",
		"marker before block": "<!-- expect: x -->\n```sh\ntrue\n```\n",
		"typo":                "```sh\ntrue\n```\n<!-- expects: x -->\n",
		"empty expect":        "```sh\ntrue\n```\n<!-- expect: -->\n",
		"bad exit":            "```sh\ntrue\n```\n<!-- expect-exit: one -->\n",
		"unclosed":            "```sh\ntrue\n",
	} {
		if _, err := ParseGuide([]byte(md)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestBlockCheck(t *testing.T) {
	b := Block{Expect: []string{"PASSOU"}, ExpectNot: []string{"FALHOU"}}
	if err := b.Check("lab x\nPASSOU\n", 0); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		out  string
		code int
		want string
	}{
		{"PASSOU", 1, "exit status 1"},
		{"nada", 0, "does not contain"},
		{"PASSOU FALHOU", 0, "contains"},
	} {
		if err := b.Check(c.out, c.code); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%q, %d) = %v, want %q", c.out, c.code, err, c.want)
		}
	}
	fail := Block{AnyFail: true}
	if fail.Check("", 0) == nil || fail.Check("", 2) != nil {
		t.Error("expect-fail: wrong verdicts")
	}
	exit := Block{Exit: 137}
	if exit.Check("", 137) != nil || exit.Check("", 1) == nil {
		t.Error("expect-exit 137: wrong verdicts")
	}
}
