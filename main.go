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
	"runtime/debug"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/demo"
	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
	"github.com/vendas-connect/vendas-connect/plugins/docs"
	"github.com/vendas-connect/vendas-connect/plugins/gctune"
	_ "github.com/vendas-connect/vendas-connect/plugins/generator"
	_ "github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
	_ "github.com/vendas-connect/vendas-connect/plugins/prometheus"
	"github.com/vendas-connect/vendas-connect/plugins/verify"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// DateBuilt is set at build time with -ldflags "-X main.DateBuilt=...";
// when it is not, --version shows the date of the binary (buildDate).
var DateBuilt = ""

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	// A heap goal of at least 52 MiB instead of Go's default: see package
	// gctune. GOGC or GOMEMLIMIT in the environment turn it off.
	defer gctune.Start(gctune.DefaultMinHeap)()

	logs := newStderrLogs(os.Stderr)
	// A component that must stop the process (refused credentials, orders
	// left unacknowledged, a state that does not fit the topic) flushes the
	// logs first.
	lifecycle.SetExit(func(code int) { logs.close(); os.Exit(code) })
	cli.AppHelpTemplate = appHelpTemplate
	code, err := service.RunCLIToCode(context.Background(),
		service.CLIOptSetArgs(args...),
		service.CLIOptSetBinaryName("vendas-connect"),
		service.CLIOptSetVersion(Version, buildDate()),
		service.CLIOptSetMainSchemaFrom(logs.schema),
		service.CLIOptCustomRunFlags(nil, logs.onRun),
		service.CLIOptAddCommand(devbroker.Command()),
		service.CLIOptAddCommand(demo.Command()),
		service.CLIOptAddCommand(docs.Command()),
		service.CLIOptAddCommand(aggregate.ResetCommand()),
		service.CLIOptAddCommand(verify.Command()),
	)
	// The last log lines first, then the error that ended the run.
	logs.close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// buildDate is the Date of --version: DateBuilt when set, else the commit
// time Go recorded, else when the binary was written (go build, go run).
func buildDate() string {
	if DateBuilt != "" {
		return DateBuilt
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.time" && s.Value != "" {
				return s.Value
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			return st.ModTime().UTC().Format(time.RFC3339)
		}
	}
	return "unknown"
}

// appHelpTemplate replaces Benthos' generic root --help (whose -c is
// hidden) with what this build is and how to run its configs. The
// templates it calls are urfave/cli's own.
const appHelpTemplate = `NAME:
   {{.Name}} - simulate an e-commerce sales stream on Kafka and total it per product

USAGE:
   {{.Name}} -c CONFIG.yaml [--log.level LEVEL]    run a pipeline config
   {{.Name}} COMMAND [command options]              run one of the commands below

DESCRIPTION:
   vendas-connect is a custom build of the Benthos stream processor: every
   Benthos component plus its own sales_orders input, kafka_franz input and
   output, sales_aggregate buffer and sales_report processor. It ships two
   pipeline configs:

     {{.Name}} -c config/produce.yaml   generate sales orders and write them to Kafka
     {{.Name}} -c config/consume.yaml   read them from Kafka and print the total per product

   "{{.Name}} demo" runs both in one process on an embedded broker, with no
   Kafka to install. A pipeline logs to stderr: its stdout carries only data.
   The components: "{{.Name}} list", "{{.Name}} docs COMPONENT".

COMMANDS:{{template "visibleCommandCategoryTemplate" .}}

GLOBAL OPTIONS:
   --config FILE, -c FILE  the pipeline config to run (YAML)
   --log.level LEVEL       override the config's log level: off, error, warn, info, debug, trace
   --set PATH=VALUE, -s    set a field of the config, e.g. --set input.sales_orders.count=100{{template "visibleFlagTemplate" .}}
`

// stderrLogs sends the logs of a pipeline run to stderr. Benthos logs to
// stdout unless the output is stdout or the config names a logger file, and
// stdout carries data here (snapshots, orders). The logger's default file
// becomes the write end of a pipe whose reader copies every line to stderr:
// a path Benthos can open whatever stderr is (a terminal, a pipe, a file
// that stdout shares, journald's socket), writing through stderr's own
// descriptor so nothing overwrites anything in a shared file.
type stderrLogs struct {
	closeOnce sync.Once // close may come from an exit and from run's end

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
	s := service.GlobalEnvironment().FullConfigSchema(Version, buildDate())
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
	l.closeOnce.Do(func() {
		_, _ = l.w.Write(endOfLogs)
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
		}
	})
}
