// Command vendas-connect is a custom Benthos build that simulates an
// e-commerce sales stream on Kafka and aggregates it per product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	_ "github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/demo"
	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
	"github.com/vendas-connect/vendas-connect/plugins/docs"
	"github.com/vendas-connect/vendas-connect/plugins/gctune"
	_ "github.com/vendas-connect/vendas-connect/plugins/generator"
	_ "github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	// A heap goal of at least 44 MiB instead of Go's default: see package
	// gctune. GOGC or GOMEMLIMIT in the environment turn it off.
	defer gctune.Start(gctune.DefaultMinHeap)()

	logs := newStderrLogs(os.Stderr)
	code, err := service.RunCLIToCode(context.Background(),
		service.CLIOptSetArgs(args...),
		service.CLIOptSetBinaryName("vendas-connect"),
		service.CLIOptSetVersion(Version, ""),
		service.CLIOptSetMainSchemaFrom(logs.schema),
		service.CLIOptCustomRunFlags(nil, logs.onRun),
		service.CLIOptAddCommand(devbroker.Command()),
		service.CLIOptAddCommand(demo.Command()),
		service.CLIOptAddCommand(docs.Command()),
	)
	// The last log lines first, then the error that ended the run.
	logs.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// stderrLogs sends the logs of a pipeline run to stderr. Benthos logs to
// stdout unless the output is stdout or the config names a logger file, and
// stdout carries data here (snapshots, orders). The logger's default file
// becomes the write end of a pipe whose reader copies every line to stderr:
// a path Benthos can open whatever stderr is (a terminal, a pipe, a file
// that stdout shares, journald's socket), writing through stderr's own
// descriptor so nothing overwrites anything in a shared file.
type stderrLogs struct {
	path string   // /proc/self/fd/N of w; empty where no such path exists
	w    *os.File // our write end, kept open so the path stays valid
	done chan struct{}
	run  bool // a pipeline runs: echo and the like keep Benthos' defaults
}

// endOfLogs ends the copy at close: no log line holds a NUL byte.
var endOfLogs = []byte("\x00end of logs\n")

func newStderrLogs(stderr io.Writer) *stderrLogs {
	l := &stderrLogs{done: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		close(l.done)
		return l
	}
	dir := "/dev/fd" // a dup of the descriptor on macOS and the BSDs
	if runtime.GOOS == "linux" {
		dir = "/proc/self/fd" // the same pipe, opened again
	}
	path := fmt.Sprintf("%s/%d", dir, w.Fd())
	if _, err := os.Stat(path); err != nil {
		// No such paths (Windows): Benthos' own default stays.
		_ = r.Close()
		_ = w.Close()
		close(l.done)
		return l
	}
	l.path, l.w = path, w
	go l.copy(r, stderr)
	return l
}

// copy writes every line read from r to stderr until endOfLogs. A failed
// write does not stop it: the logger must never block on a full pipe.
func (l *stderrLogs) copy(r *os.File, stderr io.Writer) {
	defer close(l.done)
	br := bufio.NewReaderSize(r, 64*1024)
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if lineStart && bytes.Equal(line, endOfLogs) {
			return
		}
		if len(line) > 0 {
			_, _ = stderr.Write(line)
		}
		lineStart = err == nil
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// onRun runs before a command reads its config: only `-c`, run and streams
// log to stderr by default, since echo prints the defaults it reads.
func (l *stderrLogs) onRun(c *cli.Context) error {
	switch c.Command.Name {
	case "run", "streams", "", c.App.Name:
		l.run = true
	}
	return nil
}

// schema is Benthos' config schema, with the logger file defaulting to
// stderr when a pipeline runs. A logger file in the config still wins.
func (l *stderrLogs) schema() *service.ConfigSchema {
	s := service.GlobalEnvironment().FullConfigSchema(Version, "")
	if l.run && l.path != "" {
		s.SetFieldDefault(l.path, "logger", "file", "path")
	}
	return s
}

// close waits until every line logged so far is on stderr, for at most a
// few seconds should stderr itself be stuck.
func (l *stderrLogs) close() {
	if l.w == nil {
		return
	}
	_, _ = l.w.Write(endOfLogs)
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
	}
}
