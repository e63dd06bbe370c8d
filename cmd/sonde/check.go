package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sonde-dev/sonde/internal/config"
)

func checkCmd(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "config" {
		return errors.New("usage: sonde check config FILE")
	}
	if _, err := config.LoadFile(args[1]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid\n", args[1])
	return nil
}
