package prunefilter

import (
	"testing"
	"time"
)

func TestParseAndMatch(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	old, fresh := now.Add(-48*time.Hour), now.Add(-time.Hour)
	lab := map[string]string{"env": "test", "keep": ""}
	for _, c := range []struct {
		args    map[string][]string
		labels  map[string]string
		created time.Time
		want    bool
	}{
		{nil, nil, fresh, true},
		{map[string][]string{"until": {"24h"}}, nil, old, true},
		{map[string][]string{"until": {"24h"}}, nil, fresh, false},
		{map[string][]string{"until": {"2026-01-01"}}, nil, old, true},
		{map[string][]string{"until": {"1767268800"}}, nil, fresh, false}, // 2026-01-01T12:00Z
		{map[string][]string{"label": {"env"}}, lab, fresh, true},
		{map[string][]string{"label": {"env=test"}}, lab, fresh, true},
		{map[string][]string{"label": {"env=prod"}}, lab, fresh, false},
		{map[string][]string{"label": {"env", "other"}}, lab, fresh, false},
		{map[string][]string{"label!": {"keep"}}, lab, fresh, false},
		{map[string][]string{"label!": {"keep"}}, nil, fresh, true},
		{map[string][]string{"label!": {"env=prod"}}, lab, fresh, true},
	} {
		f, err := Parse(c.args, now)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := f.Match(c.labels, c.created); got != c.want {
			t.Errorf("%v on %v created %v: %v, want %v", c.args, c.labels, c.created, got, c.want)
		}
	}
	if _, err := Parse(map[string][]string{"color": {"red"}}, now); err == nil {
		t.Error("unknown filter key accepted")
	}
	if _, err := Parse(map[string][]string{"until": {"yesterday"}}, now); err == nil {
		t.Error("bad until accepted")
	}
	kv, err := ParseKV([]string{"label!=a=b", "until=1h"})
	if err != nil || kv["label!"][0] != "a=b" || kv["until"][0] != "1h" {
		t.Errorf("ParseKV: %v %v", kv, err)
	}
}
