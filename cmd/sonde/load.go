package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sonde-dev/sonde/internal/load"
)

const loadUsage = `Usage:
  sonde load [run] [flags] SCRIPT.yml     run an Artillery v2 script
  sonde load report [-o OUT.html] REPORT.json  draw a JSON report as HTML

Runs Artillery v2 scripts unmodified, as an open model scheduled by intended
send time. http.response_time is measured from the intended send time
(corrected for coordinated omission); http.service_time is the request
written to first byte, what Artillery calls response_time.

Exit codes: 0 ok, 1 a strict ensure check failed (or the run could not
start), 21 an expect plugin expectation failed, 2 bad usage.

Flags:
`

// loadCmd runs "sonde load".
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return loadReportCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, loadUsage)
		fs.PrintDefaults()
	}
	var target, env, output, push, vars string
	var quiet bool
	for _, name := range []string{"t", "target"} {
		fs.StringVar(&target, name, "", "base URL, overrides config.target")
	}
	for _, name := range []string{"e", "environment"} {
		fs.StringVar(&env, name, "", "use config.environments.`NAME`")
	}
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&output, name, "", "write the JSON report (Artillery's shape) to `FILE`")
	}
	for _, name := range []string{"v", "variables"} {
		fs.StringVar(&vars, name, "", "JSON object of variables that override config.variables")
	}
	for _, name := range []string{"q", "quiet"} {
		fs.BoolVar(&quiet, name, false, "print only the final summary")
	}
	fs.StringVar(&push, "push", "", "stream events and load_* metrics to the sonde server at `URL`")
	seed := fs.Uint64("seed", 0, "random seed for scenario, payload row and variable picks (0: random)")
	maxWorkers := fs.Int("max-workers", load.DefaultMaxWorkers, "maximum concurrently running virtual users")
	maxLag := fs.Duration("max-lag", 0, "drop arrivals that would start later than this behind schedule (0: never)")
	var scripts []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		scripts = append(scripts, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(scripts) != 1 {
		fs.Usage()
		return errUsage
	}
	script, err := load.ParseFile(scripts[0], env)
	if err != nil {
		return err
	}
	opts := load.Options{
		Target:      target,
		Out:         stdout,
		Quiet:       quiet,
		Seed:        *seed,
		MaxWorkers:  *maxWorkers,
		MaxLag:      *maxLag,
		Environment: env,
	}
	if vars != "" {
		if err := json.Unmarshal([]byte(vars), &opts.Variables); err != nil {
			return fmt.Errorf("--variables: %w", err)
		}
	}
	if os.Getenv("ARTILLERY_DISABLE_ENSURE") != "" {
		script.Config.Ensure = load.Ensure{}
	}
	var pusher *load.Pusher
	if push != "" {
		if pusher, err = load.NewPusher(push, nil); err != nil {
			return err
		}
		opts.Observers = append(opts.Observers, pusher)
	}
	res, err := load.Run(ctx, script, opts)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if output != "" {
		if err := res.Report.WriteJSONFile(output); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Log file: %s\n", output)
	}
	if pusher != nil {
		if err := pusher.Err(); err != nil {
			fmt.Fprintln(stderr, "sonde load: warning:", err)
		}
	}
	return exitFor(res, stderr)
}

// exitFor turns a run's exit code into loadCmd's result: nil for 0, an
// error for 1, and an exitError carrying Artillery's other codes (21).
func exitFor(res *load.Result, stderr io.Writer) error {
	switch res.ExitCode {
	case load.ExitOK:
		return nil
	case load.ExitEnsureFailed:
		failed := 0
		for _, c := range res.Checks {
			if c.Strict && !c.OK {
				failed++
			}
		}
		return fmt.Errorf("load: %d ensure check(s) failed", failed)
	}
	return exitError{code: res.ExitCode, err: fmt.Errorf("load: expectations failed (exit code %d)", res.ExitCode)}
}

// loadReportCmd runs "sonde load report".
func loadReportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: sonde load report [-o OUT.html] REPORT.json\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var out, title string
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&out, name, "", "HTML file to write (default: REPORT.json with .html)")
	}
	fs.StringVar(&title, "title", "", "page title (default: the report's file name)")
	var inputs []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		inputs = append(inputs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(inputs) != 1 {
		fs.Usage()
		return errUsage
	}
	in := inputs[0]
	rp, err := load.ReadReport(in)
	if err != nil {
		return err
	}
	if out == "" {
		out = strings.TrimSuffix(in, filepath.Ext(in)) + ".html"
	}
	if title == "" {
		title = "Load test report: " + filepath.Base(in)
	}
	if err := rp.WriteHTMLFile(out, title); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Report written to %s\n", out)
	return nil
}
