package compose

import (
	"io"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

// compose-go warns through logrus (an obsolete `version:`, an unset
// variable); the tests check errors, not those lines.
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}
