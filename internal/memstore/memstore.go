// Package memstore is an in-memory key-value store with the methods of
// network.ClusterStore (the etcd API minirun's overlay networks use):
// several network Managers of one test share one Store and behave as
// hosts of one cluster. Every call is atomic under one mutex, as each
// etcd request is linearizable; PutNew is etcd's transaction "create the
// key only if its create_revision is 0".
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// Store is the in-memory store. The zero value is empty and ready.
type Store struct {
	mu  sync.Mutex
	kv  map[string][]byte
	rev int64
	// Calls counts the requests, for tests that measure round trips.
	Calls int
}

func (s *Store) begin(ctx context.Context) error {
	s.mu.Lock()
	s.Calls++
	if s.kv == nil {
		s.kv = map[string][]byte{}
	}
	return ctx.Err()
}

// Get returns the value of key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return nil, false, err
	}
	v, ok := s.kv[key]
	return append([]byte(nil), v...), ok, nil
}

// List returns every key under prefix and the store's revision.
func (s *Store) List(ctx context.Context, prefix string) (map[string][]byte, int64, error) {
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return nil, 0, err
	}
	out := map[string][]byte{}
	for k, v := range s.kv {
		if strings.HasPrefix(k, prefix) {
			out[k] = append([]byte(nil), v...)
		}
	}
	return out, s.rev, nil
}

// Put sets key.
func (s *Store) Put(ctx context.Context, key string, val []byte) error {
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.kv[key] = append([]byte(nil), val...)
	s.rev++
	return nil
}

// PutNew sets key only if it does not exist, and reports whether it did.
func (s *Store) PutNew(ctx context.Context, key string, val []byte) (bool, error) {
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	if _, ok := s.kv[key]; ok {
		return false, nil
	}
	s.kv[key] = append([]byte(nil), val...)
	s.rev++
	return true, nil
}

// Delete removes key; a missing key is success, as in etcd.
func (s *Store) Delete(ctx context.Context, key string) error {
	defer s.mu.Unlock()
	if err := s.begin(ctx); err != nil {
		return err
	}
	if _, ok := s.kv[key]; ok {
		delete(s.kv, key)
		s.rev++
	}
	return nil
}

// Keys lists every key, sorted, for tests that check the layout.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.kv {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
