//go:build unix

package ship

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/sonde-dev/sonde/internal/flock"
)

// supported reports whether Files works on this system.
const supported = true

// fileIDOf returns the device and inode of a file.
func fileIDOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, true //nolint:unconvert // Dev is int32 on some systems
}

// lockFile takes an exclusive lock on path, so that two shippers cannot
// share one state file. The lock ends when the file is closed (or the
// process ends).
func lockFile(path string) (*os.File, error) {
	f, err := flock.Lock(path)
	if errors.Is(err, flock.ErrLocked) {
		return nil, fmt.Errorf("another sonde ship with the same server, group, stream and files is running (lock %s)", path)
	}
	return f, err
}
