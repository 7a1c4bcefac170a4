// Command benchwatch times a consume run of .ci/bench-kafka from the first
// records seen to the Nth, without taxing the machine it measures.
//
//	benchwatch metrics URL N PID TIMEOUT   # Benthos json_api: output_sent
//	benchwatch snapshot FILE N PID TIMEOUT # consume.yaml's JSON snapshots: pedidos
//
// The bench used to poll with curl (a process per poll, about 10 ms of CPU
// each on two cores) and tac | grep, which took CPU from the run it timed
// while Kafka's ConsumerPerformance times itself. This polls over one
// keep-alive connection, or reads only what the file gained, and polls more
// often as the end nears: every 20 ms at first, down to 1 ms once the
// remaining records are due within a few milliseconds at the rate seen.
//
// It prints one line, "FIRST_N FIRST_T END_T BYTES" (times in Unix seconds),
// where FIRST_N is the count at the first poll that saw records and FIRST_T
// that poll's time, END_T the time of the poll that saw N, and BYTES the
// kafka_consumed_bytes metric at that poll (0 for snapshot). Until something
// can be read (the server not up yet, no snapshot yet) it polls every 20 ms.
// Exit status 4: PID ended before N; 3: N not reached in TIMEOUT seconds;
// 1: bad arguments (2 is Go's own, for a panic).
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

var (
	sentRe     = regexp.MustCompile(`"output_sent\{[^}]*\}":([0-9]+)`)
	bytesRe    = regexp.MustCompile(`"kafka_consumed_bytes\{[^}]*\}":([0-9]+)`)
	pedidosKey = []byte(`{"pedidos":`)
)

func main() {
	if len(os.Args) != 6 {
		fail(1, "usage: benchwatch metrics URL|snapshot FILE N PID TIMEOUT_SECONDS")
	}
	want, err1 := strconv.ParseInt(os.Args[3], 10, 64)
	pid, err2 := strconv.Atoi(os.Args[4])
	timeout, err3 := strconv.Atoi(os.Args[5])
	if err1 != nil || err2 != nil || err3 != nil || want <= 0 || timeout <= 0 {
		fail(1, "benchwatch: N, PID and TIMEOUT must be positive integers")
	}
	var count func() (int64, bool)
	extra := func() int64 { return 0 }
	switch os.Args[1] {
	case "metrics":
		count, extra = metricsCounter(os.Args[2])
	case "snapshot":
		count = snapshotCounter(os.Args[2])
	default:
		fail(1, "benchwatch: mode must be metrics or snapshot, not %q", os.Args[1])
	}

	var (
		firstN, last, prevN int64
		firstT, prevT       time.Time
		started             = time.Now()
		limit               = time.Duration(timeout) * time.Second
		interval            = 20 * time.Millisecond
	)
	for {
		alive := syscall.Kill(pid, 0) == nil // before reading: a last count still counts
		n, ok := count()
		now := time.Now()
		interval = 20 * time.Millisecond
		if ok {
			if n > 0 && firstT.IsZero() {
				firstN, firstT = n, now
			}
			if n >= want {
				fmt.Printf("%d %s %s %d\n", firstN, unix(firstT), unix(now), extra())
				return
			}
			last = max(last, n)
			// Poll sooner as the end nears: a quarter of the time the
			// remaining records take at the rate since the last poll.
			if !prevT.IsZero() && n > prevN {
				rate := float64(n-prevN) / now.Sub(prevT).Seconds()
				due := time.Duration(float64(want-n) / rate * float64(time.Second))
				interval = min(max(due/4, time.Millisecond), 20*time.Millisecond)
			}
			prevN, prevT = n, now
		}
		if !alive {
			fail(4, "benchwatch: process %d ended at %d of %d", pid, last, want)
		}
		if now.Sub(started) > limit {
			fail(3, "benchwatch: %d records not reached in %v (at %d)", want, limit, last)
		}
		time.Sleep(interval)
	}
}

func unix(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

// metricsCounter reads output_sent from a Benthos json_api endpoint, and
// kafka_consumed_bytes from the same response.
func metricsCounter(url string) (func() (int64, bool), func() int64) {
	client := &http.Client{Timeout: time.Second}
	var consumed int64
	return func() (int64, bool) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, false
		}
		if m := bytesRe.FindSubmatch(body); m != nil {
			consumed, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		m := sentRe.FindSubmatch(body)
		if m == nil {
			return 0, false
		}
		n, err := strconv.ParseInt(string(m[1]), 10, 64)
		return n, err == nil
	}, func() int64 { return consumed }
}

// snapshotCounter reads pedidos from the last complete snapshot line of a
// file that grows, reading only what was appended since the last call.
func snapshotCounter(path string) func() (int64, bool) {
	var (
		f       *os.File
		partial []byte // an unfinished last line
		latest  int64  = -1
		buf            = make([]byte, 1<<16)
	)
	return func() (int64, bool) {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				return 0, false
			}
		}
		for {
			k, err := f.Read(buf)
			if k > 0 {
				data := append(partial, buf[:k]...)
				end := bytes.LastIndexByte(data, '\n')
				if end < 0 {
					partial = data
				} else {
					for _, line := range bytes.Split(data[:end], []byte{'\n'}) {
						if n, ok := pedidos(line); ok {
							latest = n
						}
					}
					partial = append([]byte(nil), data[end+1:]...)
				}
			}
			if err != nil || k == 0 {
				break
			}
		}
		return latest, latest >= 0
	}
}

// pedidos parses the count at the start of a snapshot line: {"pedidos":N,
func pedidos(line []byte) (int64, bool) {
	if !bytes.HasPrefix(line, pedidosKey) {
		return 0, false
	}
	rest := line[len(pedidosKey):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i == len(rest) || rest[i] != ',' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	return n, err == nil
}
