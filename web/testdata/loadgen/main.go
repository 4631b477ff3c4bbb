// Command loadgen sends prepared JSON bodies to one endpoint from a process
// of its own, for the admission benchmarks in package web (load from a
// second process on loopback). Like wrk, it writes prebuilt HTTP/1.1
// requests on keep-alive connections and parses only what it needs of the
// answers (status, length, admitted count), so that the load generator
// takes as little of the machine as it can. It prints
// "ok REQUESTS ADMITTED NANOSECONDS".
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "", "endpoint")
	file := flag.String("bodies", "", "file of request bodies, one per line")
	n := flag.Int("n", 1000, "requests to send")
	c := flag.Int("c", 8, "concurrent connections")
	auth := flag.String("auth", "", "Authorization header (a relay key: Bearer lrk_…)")
	flag.Parse()
	header := ""
	if *auth != "" {
		header = "Authorization: " + *auth + "\r\n"
	}
	u, err := url.Parse(*target)
	if err != nil {
		fail(err)
	}
	f, err := os.Open(*file)
	if err != nil {
		fail(err)
	}
	var reqs [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		body := sc.Bytes()
		r := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, header, len(body))
		reqs = append(reqs, append(r, body...))
	}
	if len(reqs) == 0 {
		fail(errors.New("no bodies"))
	}
	var next, admitted atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				failed.Store(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 64<<10)
			var body []byte
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				if _, err := conn.Write(reqs[i%int64(len(reqs))]); err != nil {
					failed.Store(err)
					return
				}
				status, b, err := readResponse(br, body[:0])
				if err != nil {
					failed.Store(err)
					return
				}
				body = b
				if status != 200 {
					failed.Store(fmt.Errorf("status %d: %s", status, b))
					return
				}
				admitted.Add(int64(bytes.Count(b, []byte(`"admitted":true`))))
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

// readResponse reads one HTTP/1.1 response (Content-Length or chunked) and
// returns its status and body, appended to buf.
func readResponse(br *bufio.Reader, buf []byte) (int, []byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, err
	}
	length, chunked := -1, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Transfer-Encoding")) && bytes.EqualFold(v, []byte("chunked")):
			chunked = true
		}
	}
	if !chunked {
		if length < 0 {
			return 0, nil, errors.New("response without length")
		}
		return status, readN(br, buf, length, &err), err
	}
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		size, err := strconv.ParseInt(string(bytes.TrimRight(l, "\r\n")), 16, 64)
		if err != nil {
			return 0, nil, err
		}
		if size == 0 {
			_, err := br.ReadSlice('\n')
			return status, buf, err
		}
		buf = readN(br, buf, int(size), &err)
		if err != nil {
			return 0, nil, err
		}
		if _, err := br.Discard(2); err != nil {
			return 0, nil, err
		}
	}
}

func readN(br *bufio.Reader, buf []byte, n int, errp *error) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	_, *errp = io.ReadFull(br, buf[start:])
	return buf
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
