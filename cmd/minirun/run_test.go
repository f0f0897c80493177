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
		{[]string{"minirun", "ps", "-aq"}, []string{"minirun", "ps", "-a", "-q"}},
		{[]string{"minirun", "--root", "/r", "rm", "-fv", "x"}, []string{"minirun", "--root", "/r", "rm", "-f", "-v", "x"}},
		{[]string{"minirun", "exec", "-it", "c", "ls", "-it"}, []string{"minirun", "exec", "-i", "-t", "c", "ls", "-it"}},
		{[]string{"minirun", "run", "-t", "busybox", "ls", "-it"}, []string{"minirun", "run", "-t", "busybox", "ls", "-it"}},
	}
	for _, c := range cases {
		if got := expandShortFlags(newFlagTable(newApp()), c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("expandShortFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFlagsFirst(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"minirun", "explain", "rootfs", "--dry-run"}, []string{"minirun", "explain", "--dry-run", "rootfs"}},
		{[]string{"minirun", "--root", "/r", "explain", "mounts", "--lang", "en"}, []string{"minirun", "--root", "/r", "explain", "--lang", "en", "mounts"}},
		{[]string{"minirun", "create", "id1", "--bundle", "/b"}, []string{"minirun", "create", "--bundle", "/b", "id1"}},
		{[]string{"minirun", "run", "busybox", "ls", "-l"}, []string{"minirun", "run", "busybox", "ls", "-l"}},
		{[]string{"minirun", "rm", "-f", "a", "b"}, []string{"minirun", "rm", "-f", "a", "b"}},
	}
	for _, c := range cases {
		if got := flagsFirst(newFlagTable(newApp()), c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("flagsFirst(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
