package cleanup

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRunReverseOrderAndJoin(t *testing.T) {
	var s Stack
	var order []string
	s.Add("a", func() error { order = append(order, "a"); return nil })
	s.Add("b", func() error { order = append(order, "b"); return errors.New("boom") })
	s.Add("c", func() error { order = append(order, "c"); return nil })
	err := s.Run()
	if !reflect.DeepEqual(order, []string{"c", "b", "a"}) {
		t.Fatalf("order = %v, want c b a", order)
	}
	if err == nil || !strings.Contains(err.Error(), "undo b: boom") {
		t.Fatalf("err = %v, want it to name the failed undo", err)
	}
	if s.Len() != 0 {
		t.Fatalf("stack not emptied")
	}
}

func TestRelease(t *testing.T) {
	var s Stack
	called := false
	s.Add("x", func() error { called = true; return nil })
	s.Release()
	if err := s.Run(); err != nil || called {
		t.Fatalf("released stack ran undo: called=%v err=%v", called, err)
	}
}
