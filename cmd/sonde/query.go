package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sonde-dev/sonde/internal/query"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func queryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sonde query [flags] 'QUERY'")
		fs.PrintDefaults()
	}
	server := fs.String("server", "http://127.0.0.1:4380", "sonde server URL")
	var groups stringList
	fs.Var(&groups, "group", "log group to query (repeatable; a trailing * matches a prefix; default: all)")
	since := fs.String("since", "1h", "query the last period (s, m, h, d, w), unless --start is given")
	startFlag := fs.String("start", "", "start time: RFC 3339, epoch ms or now-1h")
	endFlag := fs.String("end", "", "end time (default now)")
	format := fs.String("format", "table", "output: table, json or csv")
	token := fs.String("token", os.Getenv("SONDE_TOKEN"), "bearer token (default $SONDE_TOKEN)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return fmt.Errorf("unknown --format %q (want table, json or csv)", *format)
	}
	now := time.Now()
	end := now
	if *endFlag != "" {
		var err error
		if end, err = query.ParseTime(*endFlag, now); err != nil {
			return err
		}
	}
	var start time.Time
	if *startFlag != "" {
		var err error
		if start, err = query.ParseTime(*startFlag, now); err != nil {
			return err
		}
	} else {
		d, err := query.ParseSince(*since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		start = end.Add(-d)
	}
	body, _ := json.Marshal(map[string]any{
		"query": fs.Arg(0), "start": start.UnixMilli(), "end": end.UnixMilli(), "groups": []string(groups),
	})
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*server, "/")+"/api/v1/logs/query", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("query %s: %w", *server, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if *format == "json" {
		_, err := stdout.Write(data)
		return err
	}
	var res query.Result
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	if *format == "csv" {
		w := csv.NewWriter(stdout)
		w.Write(res.Columns)
		for _, row := range res.Rows {
			w.Write(cells(row))
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	seps := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		seps[i] = strings.Repeat("-", len(c))
	}
	fmt.Fprintln(tw, strings.Join(seps, "\t"))
	for _, row := range res.Rows {
		fmt.Fprintln(tw, strings.Join(cells(row), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d rows; %d records matched, %d scanned in %.1f ms\n",
		len(res.Rows), res.Stats.RecordsMatched, res.Stats.RecordsScanned, res.Stats.ElapsedMs)
	return nil
}

// cells writes a row's values as text; absent values are empty.
func cells(row []any) []string {
	out := make([]string, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case nil:
		case string:
			out[i] = strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(x)
		case json.Number:
			out[i] = x.String()
			if f, err := x.Float64(); err == nil && strings.ContainsAny(x.String(), ".eE") {
				// Six significant digits, without an exponent for ordinary sizes.
				r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
				out[i] = strconv.FormatFloat(r, 'f', -1, 64)
				if math.Abs(r) < 1e-4 || math.Abs(r) >= 1e15 {
					out[i] = strconv.FormatFloat(r, 'g', -1, 64)
				}
			}
		default:
			out[i] = fmt.Sprint(x)
		}
	}
	return out
}
