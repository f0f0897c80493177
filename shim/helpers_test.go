package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func createTemp(t *testing.T) (*os.File, error) {
	return os.Create(filepath.Join(t.TempDir(), "log.json"))
}
