// Package cleanup is the rollback stack every host-changing operation uses.
//
// The rule it encodes: each step that changes the host registers its undo
// right after it succeeds, so that when step k fails the undos of steps
// 1..k-1 run in reverse order and the host is left as it was. This is the
// pattern of 0xc0d/vessel ("every setup function returns its undo") and of
// runc's deferred rollback on a named error.
package cleanup

import (
	"errors"
	"fmt"
)

type item struct {
	name string
	fn   func() error
}

// Stack holds undo functions in the order their steps succeeded.
// The zero value is ready to use.
type Stack struct {
	items []item
}

// Add registers the undo of a step that has just succeeded.
func (s *Stack) Add(name string, fn func() error) {
	s.items = append(s.items, item{name: name, fn: fn})
}

// Release forgets every registered undo: ownership of the host objects has
// passed to something else (for a container: its saved state, which delete
// reads), so a later Run must not tear them down.
func (s *Stack) Release() {
	s.items = nil
}

// Len reports how many undos are registered.
func (s *Stack) Len() int { return len(s.items) }

// Run calls every registered undo, last first, and returns all their errors
// joined. It keeps going after a failure: one stuck object must not leave the
// others behind. The stack is empty afterwards.
func (s *Stack) Run() error {
	var errs []error
	for i := len(s.items) - 1; i >= 0; i-- {
		it := s.items[i]
		if err := it.fn(); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", it.name, err))
		}
	}
	s.items = nil
	return errors.Join(errs...)
}
