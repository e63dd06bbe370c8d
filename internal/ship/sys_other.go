//go:build !unix

package ship

import (
	"errors"
	"os"
)

// supported reports whether Files works on this system: it needs device
// and inode numbers to follow files through rotation.
const supported = false

func fileIDOf(os.FileInfo) (fileID, bool) { return fileID{}, false }

func lockFile(string) (*os.File, error) {
	return nil, errors.New("file locks need a Unix system")
}
