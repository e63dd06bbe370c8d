// Command metricsbench drives bench/metrics.sh: it sends a deterministic
// Prometheus remote write stream (histogram buckets of an HTTP server plus
// a few counters, like a fleet of instrumented services) to a server, and
// times PromQL range queries against one or more servers.
//
//	metricsbench send -url http://127.0.0.1:9090/api/v1/write -series 10000 -start MS -end MS
//	metricsbench query -url A -url B -query Q -start S -end E -step 60 -n 5
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: metricsbench send|query [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "send":
		err = send(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "metricsbench:", err)
		os.Exit(1)
	}
}

var buckets = []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"}

// seriesSet is the benchmark's series: route x code x instance histograms
// (11 buckets each) and, to round up, per-instance counters.
type seriesSet struct {
	labels [][]prompb.Label
	bucket []int // index into buckets, -1 for the counters
	group  []int // histogram the bucket belongs to
	groups int
}

func makeSeries(n int) *seriesSet {
	s := &seriesSet{}
	codes := []string{"200", "404", "500"}
	instances := 10
	routes := (n / len(buckets)) / (len(codes) * instances)
	if routes < 1 {
		routes = 1
	}
	for r := 0; r < routes && len(s.labels)+len(buckets) <= n; r++ {
		for _, c := range codes {
			for i := 0; i < instances && len(s.labels)+len(buckets) <= n; i++ {
				for b, le := range buckets {
					s.labels = append(s.labels, []prompb.Label{
						{Name: "__name__", Value: "http_server_request_duration_seconds_bucket"},
						{Name: "code", Value: c},
						{Name: "instance", Value: fmt.Sprintf("app-%d:8080", i)},
						{Name: "job", Value: "app"},
						{Name: "le", Value: le},
						{Name: "method", Value: "GET"},
						{Name: "route", Value: fmt.Sprintf("/api/v1/resource%d/{id}", r)},
					})
					s.bucket = append(s.bucket, b)
					s.group = append(s.group, s.groups)
				}
				s.groups++
			}
		}
	}
	for i := 0; len(s.labels) < n; i++ {
		s.labels = append(s.labels, []prompb.Label{
			{Name: "__name__", Value: "process_cpu_seconds_total"},
			{Name: "instance", Value: fmt.Sprintf("app-%d:8080", i)},
			{Name: "job", Value: "app"},
		})
		s.bucket = append(s.bucket, -1)
		s.group = append(s.group, -1)
	}
	return s
}

func hash32(a, b int) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", a, b)
	return h.Sum32()
}

// values computes step k's cumulative values for every series, from
// step k-1's (prev may be nil).
func (s *seriesSet) values(k int, prev []float64) []float64 {
	out := make([]float64, len(s.labels))
	// Per histogram: requests this step, spread over the buckets.
	obs := make([][]float64, s.groups)
	for g := range obs {
		n := int(hash32(g, k) % 20)
		counts := make([]float64, len(buckets))
		for i := 0; i < n; i++ {
			lat := math.Exp(float64(hash32(g*31+i, k)%1000)/1000*6 - 5) // 7ms .. 2.7s
			for b, le := range buckets {
				if f, err := strconv.ParseFloat(le, 64); le == "+Inf" || (err == nil && lat <= f) {
					counts[b]++
				}
			}
		}
		obs[g] = counts
	}
	for i := range s.labels {
		p := 0.0
		if prev != nil {
			p = prev[i]
		}
		if s.bucket[i] < 0 {
			out[i] = p + float64(hash32(i, k)%100)/100
		} else {
			out[i] = p + obs[s.group[i]][s.bucket[i]]
		}
	}
	return out
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	target := fs.String("url", "", "remote write URL")
	n := fs.Int("series", 10000, "series")
	start := fs.Int64("start", 0, "first timestamp (ms)")
	end := fs.Int64("end", 0, "last timestamp (ms)")
	step := fs.Duration("step", 15*time.Second, "scrape interval")
	batch := fs.Int("batch", 2000, "samples per request (Prometheus' max_samples_per_send)")
	_ = fs.Parse(args)
	if *target == "" || *start == 0 || *end <= *start {
		return fmt.Errorf("need -url, -start and -end")
	}
	s := makeSeries(*n)
	shards := (len(s.labels) + *batch - 1) / *batch
	client := &http.Client{Timeout: time.Minute}
	var prev []float64
	var sent, failed int64
	began := time.Now()
	for ts := *start; ts <= *end; ts += step.Milliseconds() {
		k := int((ts - *start) / step.Milliseconds())
		vals := s.values(k, prev)
		prev = vals
		// One request per shard, in parallel, as Prometheus' queue shards
		// do; the next step waits, so no series goes out of order.
		var wg sync.WaitGroup
		var mu sync.Mutex
		for sh := 0; sh < shards; sh++ {
			lo, hi := sh**batch, min((sh+1)**batch, len(s.labels))
			req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, hi-lo)}
			for i := lo; i < hi; i++ {
				req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: s.labels[i], Samples: []prompb.Sample{{Value: vals[i], Timestamp: ts}}})
			}
			buf, err := req.Marshal()
			if err != nil {
				return err
			}
			body := snappy.Encode(nil, buf)
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := post(client, *target, body)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed += int64(hi - lo)
					if failed == int64(hi-lo) {
						fmt.Fprintln(os.Stderr, "first error:", err)
					}
					return
				}
				sent += int64(hi - lo)
			}()
		}
		wg.Wait()
	}
	el := time.Since(began)
	fmt.Printf("samples_sent %d\nsamples_failed %d\nseconds %.2f\n", sent, failed, el.Seconds())
	if failed > 0 {
		return fmt.Errorf("%d samples failed", failed)
	}
	return nil
}

func post(client *http.Client, target string, body []byte) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode/100 == 5 && attempt < 5:
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
			continue
		}
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
}

type multiFlag []string

// String implements flag.Value.
func (m *multiFlag) String() string { return strings.Join(*m, ",") }

// Set implements flag.Value.
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func query(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	var urls multiFlag
	fs.Var(&urls, "url", "server base URL (repeat; queried in turn)")
	q := fs.String("query", "", "PromQL")
	start := fs.String("start", "", "start (Unix seconds)")
	end := fs.String("end", "", "end (Unix seconds)")
	step := fs.String("step", "60", "step")
	n := fs.Int("n", 5, "runs per server")
	_ = fs.Parse(args)
	times := make([][]float64, len(urls))
	sums := make([]string, len(urls))
	for run := 0; run < *n+1; run++ { // run 0 warms caches and is not counted
		for i, u := range urls {
			began := time.Now()
			resp, err := http.PostForm(u+"/api/v1/query_range", url.Values{"query": {*q}, "start": {*start}, "end": {*end}, "step": {*step}})
			if err != nil {
				return err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			el := time.Since(began).Seconds()
			if err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %d %s", u, resp.StatusCode, body)
			}
			if run > 0 {
				times[i] = append(times[i], el)
			}
			sums[i] = checksum(body)
		}
	}
	for i, u := range urls {
		sort.Float64s(times[i])
		fmt.Printf("%s median_s %.3f min_s %.3f result %s\n", u, times[i][len(times[i])/2], times[i][0], sums[i])
	}
	return nil
}

// checksum summarises a matrix answer (series, points, sum of values), so
// that answers from different servers can be compared.
func checksum(body []byte) string {
	var r struct {
		Data struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "undecodable"
	}
	points, sum := 0, 0.0
	for _, s := range r.Data.Result {
		for _, p := range s.Values {
			points++
			if v, err := strconv.ParseFloat(p[1].(string), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				sum += v
			}
		}
	}
	return fmt.Sprintf("series=%d points=%d sum=%.6g", len(r.Data.Result), points, sum)
}
