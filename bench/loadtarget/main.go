// Command loadtarget is the minimal HTTP server that bench/load.sh points
// the load generators at: every request gets a 200 with a 2-byte body. With
// -stall-every and -stall-for it stops answering for stall-for at the start
// of every stall-every window (a requests that arrives during a stall is
// answered when the stall ends), to measure coordinated-omission correction.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "listen address")
	every := flag.Duration("stall-every", 0, "stall once per this period (0: never)")
	stall := flag.Duration("stall-for", 0, "length of each stall")
	flag.Parse()
	start := time.Now()
	body := []byte("ok")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *every > 0 && *stall > 0 {
			if in := time.Since(start) % *every; in < *stall {
				time.Sleep(*stall - in)
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	log.Printf("loadtarget: listening on %s (start %s)", *addr, start.Format(time.RFC3339Nano))
	log.Fatal(http.ListenAndServe(*addr, h))
}
