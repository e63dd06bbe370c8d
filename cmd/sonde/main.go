// Command sonde is endpoint-performance observability in one binary. Run
// "sonde help" for its subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `sonde: endpoint-performance observability in one binary.

Usage:
  sonde [serve] [flags]          run the server (the default)
  sonde query [flags] 'QUERY'    run a Logs Insights query against a server
  sonde ship [flags] FILE... | -  send log files or stdin to a server
  sonde load [flags] SCRIPT.yml  run an Artillery-compatible load test
  sonde mock [flags] STUBS...    serve WireMock-compatible stubs
  sonde canary run [flags] NAME  run a canary once and print its timings
  sonde check config FILE        validate a configuration file
  sonde version                  print the version

Run "sonde COMMAND -h" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (len(args[0]) == 0 || args[0][0] != '-') {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args, stderr)
	case "query":
		err = queryCmd(ctx, args, stdout, stderr)
	case "ship":
		err = shipCmd(ctx, args, stdin, stderr)
	case "load":
		err = loadCmd(ctx, args, stdout, stderr)
	case "mock":
		err = mockCmd(ctx, args, stdout, stderr)
	case "canary":
		err = canaryCmd(ctx, args, stdout, stderr)
	case "check":
		err = checkCmd(args, stdout)
	case "version":
		fmt.Fprintln(stdout, "sonde", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "sonde: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintln(stderr, "sonde:", err)
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}

// exitError is an error that asks for a particular exit code, such as
// Artillery's 21 for failed expectations.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
