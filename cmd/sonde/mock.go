package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sonde-dev/sonde/internal/mock"
)

const mockUsage = `Usage: sonde mock [flags] [STUBS.json | DIR]...

Serves WireMock-compatible stubs from mapping files and directories (a
mappings/ directory, or a root directory holding mappings/ and __files/).
With no arguments it loads ./mappings if there is one, like WireMock. Stubs
can also be managed through the admin API under /__admin/.

Flags:
`

// mockCmd runs "sonde mock": a WireMock-compatible stub server for smoke
// tests and load tests, until ctx is cancelled (Ctrl-C).
func mockCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, mockUsage)
		fs.PrintDefaults()
	}
	port := fs.Int("port", 8080, "port to listen on (0 picks a free one)")
	host := fs.String("host", "127.0.0.1", "address to listen on; 0.0.0.0 exposes the stubs to the network")
	verbose := fs.Bool("verbose", false, "log every request and whether a stub matched it")
	journal := fs.Int("journal-size", mock.DefaultJournalSize, "requests kept in the request journal (0 disables it)")
	// Flags may come after the stub paths, as in "sonde mock stubs/ --port 9000".
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) == 0 {
		if info, err := os.Stat("mappings"); err == nil && info.IsDir() {
			paths = []string{"."}
		}
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	size := *journal
	if size == 0 {
		size = -1 // Options reads 0 as "default"
	}
	srv := mock.New(mock.Options{
		Logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		LogRequests: *verbose,
		JournalSize: size,
	})
	n, err := srv.Load(paths...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("mock: %w", err)
	}
	from := ""
	if len(paths) > 0 {
		from = " from"
		for _, p := range paths {
			from += " " + filepath.Clean(p)
		}
	}
	fmt.Fprintf(stdout, "sonde mock: %d stubs loaded%s\n", n, from)
	fmt.Fprintf(stdout, "sonde mock: listening on http://%s (admin API at /__admin/, Ctrl-C stops)\n", ln.Addr())
	return srv.Serve(ctx, ln)
}
