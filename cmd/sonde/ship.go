package main

import (
	"context"
	"errors"
	"io"
)

func shipCmd(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	return errors.New("ship: not yet available")
}
