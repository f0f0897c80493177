package runtime

import (
	"os"
	goruntime "runtime"
	"testing"
)

// The test binary doubles as the container's init, as runc's tests do:
// Create re-executes it (CreateOpts.Self) with "init" as its argument.
func init() {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		goruntime.GOMAXPROCS(1)
		goruntime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		Init()
	}
	os.Exit(m.Run())
}
