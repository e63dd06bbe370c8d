// Command loadlogs posts an NDJSON file to a sonde server in batches, as
// fast as the server acknowledges them, for the ingest benchmark.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	file := flag.String("file", "", "NDJSON file")
	url := flag.String("url", "http://127.0.0.1:14380/api/v1/logs?group=bench", "ingest URL")
	batch := flag.Int("batch", 10000, "lines per request")
	workers := flag.Int("c", 4, "concurrent requests")
	flag.Parse()
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var batches [][]byte
	for start, lines := 0, 0; start < len(data); {
		end := start
		for lines = 0; end < len(data) && lines < *batch; lines++ {
			i := bytes.IndexByte(data[end:], '\n')
			if i < 0 {
				end = len(data)
				break
			}
			end += i + 1
		}
		batches = append(batches, data[start:end])
		start = end
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	var next, retries atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(batches)) {
					return
				}
				for {
					resp, err := client.Post(*url, "application/x-ndjson", bytes.NewReader(batches[i]))
					if err != nil {
						fmt.Fprintln(os.Stderr, "post:", err)
						os.Exit(1)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
					if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
						fmt.Fprintln(os.Stderr, "post:", resp.Status)
						os.Exit(1)
					}
					retries.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("loader: %d batches in %.2fs wall (%d retries after 429/503)\n", len(batches), el.Seconds(), retries.Load())
}
