//go:build !unix

package flock

import (
	"errors"
	"os"
)

// Lock fails: file locks need a Unix system.
func Lock(string) (*os.File, error) {
	return nil, errors.New("file locks need a Unix system")
}
