// Command loadgen sends prepared JSON bodies to one endpoint from a process
// of its own, for the admission benchmarks in package web (load from a
// second process on loopback). It prints "ok REQUESTS ADMITTED NANOSECONDS".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	url := flag.String("url", "", "endpoint")
	file := flag.String("bodies", "", "file of request bodies, one per line")
	n := flag.Int("n", 1000, "requests to send")
	c := flag.Int("c", 8, "concurrent connections")
	flag.Parse()
	f, err := os.Open(*file)
	if err != nil {
		fail(err)
	}
	var bodies [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		bodies = append(bodies, bytes.Clone(sc.Bytes()))
	}
	if len(bodies) == 0 {
		fail(fmt.Errorf("no bodies"))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}}
	var next, admitted atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				resp, err := client.Post(*url, "application/json", bytes.NewReader(bodies[i%int64(len(bodies))]))
				if err != nil {
					failed.Store(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d: %s", resp.StatusCode, b))
					return
				}
				var out struct {
					Admitted bool `json:"admitted"`
					Results  []struct {
						Admitted bool `json:"admitted"`
					} `json:"results"`
				}
				json.Unmarshal(b, &out)
				if out.Admitted {
					admitted.Add(1)
				}
				for _, r := range out.Results {
					if r.Admitted {
						admitted.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, ok := failed.Load().(error); ok {
		fail(err)
	}
	fmt.Printf("ok %d %d %d\n", *n, admitted.Load(), elapsed.Nanoseconds())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
