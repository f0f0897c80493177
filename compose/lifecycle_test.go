package compose

import (
	"sync"
	"testing"
	"time"

	"github.com/minirun/minirun/container"
)

// Stopping a project: a container goes only after every container of the
// services that depend on it; the others go in parallel.
func TestDependentsFirst(t *testing.T) {
	dir := writeProject(t, "p", map[string]string{"compose.yaml": `services:
  db: {image: busybox}
  cache: {image: busybox, depends_on: [db]}
  web: {image: busybox, depends_on: [db, cache]}
  admin: {image: busybox}
`})
	p, err := load(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(svc string) *container.Meta {
		return &container.Meta{Name: "p-" + svc + "-1", Config: container.Config{Labels: map[string]string{LabelService: svc}}}
	}
	// An orphan (a service no longer in the file) must not block anything.
	cs := []*container.Meta{meta("db"), meta("cache"), meta("admin"), meta("web"), meta("gone")}
	var mu sync.Mutex
	var order []string
	e := &Engine{}
	err = e.dependentsFirst(p, cs, func(c *container.Meta) error {
		if c.Config.Labels[LabelService] == "web" {
			time.Sleep(50 * time.Millisecond) // db and cache must still wait
		}
		mu.Lock()
		order = append(order, c.Config.Labels[LabelService])
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, s := range order {
		pos[s] = i
	}
	if len(order) != 5 || pos["web"] > pos["cache"] || pos["cache"] > pos["db"] || pos["web"] > pos["db"] {
		t.Fatalf("stop order %v: want web before cache before db", order)
	}
}
