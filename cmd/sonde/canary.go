package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/canary"
	"github.com/sonde-dev/sonde/internal/config"
)

const canaryUsage = `Usage: sonde canary run [flags] NAME

Runs the canary NAME once and prints the result with its timing breakdown.
With --config it runs the canary from that configuration file right here,
without a server (nothing is recorded). Otherwise it asks the server to run
it (POST /api/v1/canaries/NAME/run), which records the run as an event and
as metrics.

Exit codes: 0 the canary passed, 1 it failed or could not run, 2 bad usage.

Flags:
`

// canaryCmd runs "sonde canary run".
func canaryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("canary", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, canaryUsage)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "run" {
		fs.Usage()
		return errUsage
	}
	args = args[1:]
	configFile := fs.String("config", "", "run the canary from this configuration `FILE`, without a server")
	server := fs.String("server", "http://127.0.0.1:4380", "sonde server `URL`, when --config is not given")
	token := fs.String("token", os.Getenv("SONDE_TOKEN"), "bearer token with the admin scope (default $SONDE_TOKEN)")
	har := fs.String("har", "", "also write the run as HAR 1.2 to `FILE`")
	asJSON := fs.Bool("json", false, "print the run as JSON instead of text")
	// Flags may come after the name, as in "sonde canary run home --config sonde.yaml".
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(names) != 1 {
		fs.Usage()
		return errUsage
	}
	name := names[0]

	var run *canary.Run
	var err error
	if *configFile != "" {
		run, err = runCanaryLocally(ctx, *configFile, name)
	} else {
		run, err = runCanaryOnServer(ctx, *server, *token, name)
	}
	if err != nil {
		return err
	}
	if *har != "" {
		if err := writeHARFile(*har, run); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(run); err != nil {
			return err
		}
	} else if err := canary.WriteText(stdout, run); err != nil {
		return err
	}
	if !run.Success {
		return fmt.Errorf("canary %s failed", name)
	}
	return nil
}

// runCanaryLocally runs a canary of a configuration file here.
func runCanaryLocally(ctx context.Context, file, name string) (*canary.Run, error) {
	cfg, err := config.LoadFile(file)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, cc := range cfg.Canaries {
		if cc.Name != name {
			names = append(names, cc.Name)
			continue
		}
		c, err := canary.Compile(cc)
		if err != nil {
			return nil, err
		}
		return canary.NewRunner(canary.RunnerOptions{}).Run(ctx, c, canary.TriggerCLI), nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no canaries", file)
	}
	return nil, fmt.Errorf("%s has no canary %q (it has %s)", file, name, strings.Join(names, ", "))
}

// runCanaryOnServer asks a server to run a canary and returns the run.
func runCanaryOnServer(ctx context.Context, server, token, name string) (*canary.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	u := strings.TrimRight(server, "/") + "/api/v1/canaries/" + url.PathEscape(name) + "/run"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("run canary on %s: %w (use --config FILE to run it without a server)", server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	var run canary.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, fmt.Errorf("decode run: %w", err)
	}
	return &run, nil
}

func writeHARFile(path string, run *canary.Run) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := canary.WriteHAR(f, run); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
