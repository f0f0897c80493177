package overlay

import (
	"strings"
	"testing"
)

func TestData(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string
		err  string
	}{
		{"rw", Options{Lower: []string{"/l2", "/l1"}, Upper: "/u", Work: "/w"}, "lowerdir=/l2:/l1,upperdir=/u,workdir=/w", ""},
		{"ro", Options{Lower: []string{"/a", "/b"}}, "lowerdir=/a:/b", ""},
		{"no lower", Options{Upper: "/u", Work: "/w"}, "", "at least one lower"},
		{"no work", Options{Lower: []string{"/l"}, Upper: "/u"}, "", "work dir"},
		{"colon", Options{Lower: []string{"/l:x"}, Upper: "/u", Work: "/w"}, "", "contains"},
		{"too long", Options{Lower: []string{"/" + strings.Repeat("x", 5000)}, Upper: "/u", Work: "/w"}, "", "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.o.Data()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Data() = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
