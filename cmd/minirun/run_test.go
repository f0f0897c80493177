package main

import (
	"reflect"
	"testing"
)

func TestExpandShortFlags(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"minirun", "run", "-it", "busybox", "sh"}, []string{"minirun", "run", "-i", "-t", "busybox", "sh"}},
		{[]string{"minirun", "run", "--rm", "-ti", "busybox"}, []string{"minirun", "run", "--rm", "-t", "-i", "busybox"}},
		{[]string{"minirun", "run", "busybox", "ls", "-it"}, []string{"minirun", "run", "busybox", "ls", "-it"}},
		{[]string{"minirun", "run", "-h", "-it", "busybox"}, []string{"minirun", "run", "-h", "-it", "busybox"}},
		{[]string{"minirun", "run", "-e", "A=1", "busybox"}, []string{"minirun", "run", "-e", "A=1", "busybox"}},
		{[]string{"minirun", "ps", "-it"}, []string{"minirun", "ps", "-it"}},
	}
	for _, c := range cases {
		if got := expandShortFlags(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("expandShortFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
