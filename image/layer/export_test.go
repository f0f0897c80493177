package layer

import "io"

// Extract is extract without a record, for the tests: minirun itself
// extracts only through ExtractRecorded, inside the images-layer-extract
// step (see extract).
func Extract(r io.Reader, dir string) (size int64, err error) {
	return extract(r, dir, nil)
}
