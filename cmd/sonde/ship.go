package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sonde-dev/sonde/internal/ship"
)

const shipUsage = `Usage: sonde ship [flags] FILE... | -

Sends log lines to a sonde server. With files (paths or glob patterns,
expanded again at every poll), it tails them until interrupted, follows
rotation and truncation, and remembers how far each file was confirmed, so
that a new run resumes there. With "-", it ships stdin and exits once
everything was confirmed.

Flags:
`

// shipCmd parses the flags of "sonde ship" and runs the shipper.
func shipCmd(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("ship", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), shipUsage)
		fs.PrintDefaults()
	}
	var o ship.Options
	fs.StringVar(&o.Server, "server", ship.DefaultServer, "base URL of the sonde server")
	fs.StringVar(&o.Group, "group", ship.DefaultGroup, "log group of the lines")
	fs.StringVar(&o.Stream, "stream", "", `log stream of the lines (default: each file's absolute path, "stdin" for -)`)
	fs.StringVar(&o.Token, "token", "", "bearer token (default: $SONDE_TOKEN)")
	fs.StringVar(&o.StateDir, "state-dir", ship.DefaultStateDir(), "directory of the offset state files")
	fromStart := fs.Bool("from-start", true, "read files found at start-up and unknown to the state from the beginning; false: ship only lines written from now on")
	fs.IntVar(&o.BatchLines, "batch-lines", ship.DefaultBatchLines, "most lines in one batch")
	fs.IntVar(&o.BatchBytes, "batch-bytes", ship.DefaultBatchBytes, "most bytes in one batch (the last line may exceed it)")
	fs.DurationVar(&o.Flush, "flush", ship.DefaultFlush, "longest wait before a partial batch is sent")
	fs.DurationVar(&o.Poll, "poll", ship.DefaultPoll, "how often files are checked and patterns expanded")
	fs.IntVar(&o.MaxLineBytes, "max-line-bytes", ship.DefaultMaxLineBytes, "longer lines are cut to this many bytes")
	fs.DurationVar(&o.RotateWait, "rotate-wait", ship.DefaultRotateWait, "how long a rotated file is still read after it last grew")
	fs.StringVar(&o.Compression, "compress", ship.DefaultCompression, "request compression: zstd, gzip or none")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "sonde ship: name files to ship, or - for stdin")
		fs.Usage()
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o.StartAtEnd = !*fromStart
	tokenSet := false
	fs.Visit(func(f *flag.Flag) { tokenSet = tokenSet || f.Name == "token" })
	if !tokenSet {
		o.Token = os.Getenv("SONDE_TOKEN")
	}
	// Non-positive sizes and intervals would silently mean the defaults
	// in ship.Options: refuse them here.
	if o.BatchLines < 1 || o.BatchBytes < 1 || o.MaxLineBytes < 1 || o.Flush <= 0 || o.Poll <= 0 || o.RotateWait <= 0 {
		return fmt.Errorf("ship: --batch-lines, --batch-bytes, --max-line-bytes, --flush, --poll and --rotate-wait must be positive")
	}

	if fs.NArg() == 1 && fs.Arg(0) == "-" {
		_, err := ship.Reader(ctx, o, stdin)
		return err
	}
	_, err := ship.Files(ctx, o, fs.Args())
	return err
}
