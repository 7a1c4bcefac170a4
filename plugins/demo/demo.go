// Package demo runs the whole system in one process: an embedded
// Kafka-compatible broker, config/produce.yaml and config/consume.yaml.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sync/errgroup"

	"github.com/vendas-connect/vendas-connect/config"
	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
)

// Options of a demo run.
type Options struct {
	// ConfigDir holds produce.yaml and consume.yaml; where a file is
	// missing, the copy built into the binary is used.
	ConfigDir  string
	Partitions int
	// Env is looked up before the process environment; tests set it.
	Env map[string]string
	// Stderr receives the demo's own messages.
	Stderr io.Writer
	// Terminal says the output is a terminal: the table is redrawn in place.
	Terminal bool
}

// demoRate is the default order rate of the demo: fast enough to see the
// totals move, slow enough to read them.
const demoRate = "200"

// defaultHTTPAddress is consume.yaml's HTTP address when
// CONSUME_HTTP_ADDRESS is unset, as in the config.
const defaultHTTPAddress = "127.0.0.1:4196"

// waitNotice is how long the demo waits quietly, once the producer is done,
// for the consumer to count every order before saying what it waits for;
// it says it again at this interval.
const waitNotice = 5 * time.Second

// Run starts the broker and both pipelines and runs until ctx ends (Ctrl-C),
// or, with ORDERS_COUNT set, until the producer has sent every order and the
// consumer's totals count them all. The consumer stops last, so its final
// table covers every order it read.
func Run(ctx context.Context, opts Options) error {
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	// The broker outlives Ctrl-C: the consumer still reads and the outputs
	// still flush while the pipelines stop. It closes when Run returns.
	broker, err := devbroker.Start(context.WithoutCancel(ctx), devbroker.Options{Addr: "127.0.0.1:0", Partitions: opts.Partitions})
	if err != nil {
		return fmt.Errorf("starting the embedded broker: %w", err)
	}
	defer broker.Close()
	fmt.Fprintf(stderr, "vendas-connect demo: embedded broker at %s (in memory only), producing and consuming; Ctrl-C to stop\n", broker.Addr())

	lookup := envLookup(opts, broker.Addr())
	orders := ordersCount(lookup)
	produce, err := buildStream(service.GlobalEnvironment(), nil, opts.ConfigDir, "produce.yaml", stderr, func(k string) (string, bool) {
		// The producer's progress log would scroll the table away.
		if k == "LOG_LEVEL" {
			return "WARN", true
		}
		return lookup(k)
	})
	if err != nil {
		return err
	}

	// consume.yaml's HTTP endpoints (/metrics and what its components add,
	// the dashboard among them) on a server of the demo's: a stream builder
	// would otherwise leave the config's server off.
	ln, err := listenHTTP(lookup, stderr)
	if err != nil {
		return err
	}
	mux := newEndpoints()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// sales_report tells progress the counts of each snapshot of this
	// consumer, in an environment of its own.
	var progress progress
	progress.changed = make(chan struct{}, 1)
	env := service.GlobalEnvironment().Clone()
	if err := aggregate.RegisterReportObserver(env, progress.observe); err != nil {
		return fmt.Errorf("registering sales_report: %w", err)
	}
	consume, err := buildStream(env, mux, opts.ConfigDir, "consume.yaml", stderr, lookup)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "dashboard: http://%s/\n", urlHost(ln.Addr()))

	// The consumer outlives the producer: on Ctrl-C the producer stops first,
	// then the consumer drains what it has and prints its last table.
	consumeCtx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsumer()
	counted := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		err := produce.Run(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		if err != nil {
			stopConsumer()
			return fmt.Errorf("produce.yaml: %w", err)
		}
		if ctx.Err() == nil && orders > 0 {
			// Ended by itself: every order is on the broker. Stop once the
			// consumer counted them all.
			if progress.wait(ctx, consumeCtx, orders, stderr) {
				close(counted)
			}
			return nil
		}
		// Stopped by Ctrl-C, or ended without ORDERS_COUNT (a config of
		// one's own): keep consuming until Ctrl-C.
		select {
		case <-ctx.Done():
		case <-consumeCtx.Done():
		}
		return nil
	})
	g.Go(func() error {
		go func() {
			select {
			case <-ctx.Done():
			case <-counted:
			case <-consumeCtx.Done():
				return
			}
			// Stop gracefully: the buffer flushes its last snapshot.
			_ = consume.StopWithin(30 * time.Second)
		}()
		err := consume.Run(consumeCtx)
		stopConsumer()
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("consume.yaml: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// ordersCount is ORDERS_COUNT, or 0 (no end) when it is unset or not a
// number, which produce.yaml refuses with its own message.
func ordersCount(lookup func(string) (string, bool)) int64 {
	v, _ := lookup("ORDERS_COUNT")
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// progress is what the consumer's last snapshot counted.
type progress struct {
	counted atomic.Int64 // pedidos + rejeitados
	seen    atomic.Bool  // a snapshot came
	changed chan struct{}
}

func (p *progress) observe(orders, rejected int64) {
	p.counted.Store(orders + rejected)
	p.seen.Store(true)
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// wait returns true once a snapshot counts n records (orders and rejected
// records: each record of the topic is one or the other), false when ctx or
// the consumer ends first. It never gives up by itself, but says on stderr
// what it waits for.
func (p *progress) wait(ctx, consumeCtx context.Context, n int64, stderr io.Writer) bool {
	notice := time.NewTimer(waitNotice)
	defer notice.Stop()
	for {
		if p.counted.Load() == n {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-consumeCtx.Done():
			return false
		case <-p.changed:
		case <-notice.C:
			last := "no table yet"
			if p.seen.Load() {
				last = fmt.Sprintf("the last table counts %d (pedidos + rejeitados)", p.counted.Load())
			}
			fmt.Fprintf(stderr, "vendas-connect demo: produce.yaml sent its %d orders; waiting for consume.yaml to count them all, %s; Ctrl-C to stop\n", n, last)
			notice.Reset(waitNotice)
		}
	}
}

// listenHTTP listens on CONSUME_HTTP_ADDRESS, or on a free port of
// 127.0.0.1 when that address is taken (another demo, a consume.yaml).
func listenHTTP(lookup func(string) (string, bool), stderr io.Writer) (net.Listener, error) {
	addr, ok := lookup("CONSUME_HTTP_ADDRESS")
	if !ok || addr == "" {
		addr = defaultHTTPAddress
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		fmt.Fprintf(stderr, "vendas-connect demo: CONSUME_HTTP_ADDRESS %s is in use; serving consume.yaml's HTTP endpoints on a free port instead\n", addr)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("CONSUME_HTTP_ADDRESS %q: %w", addr, err)
	}
	return ln, nil
}

// urlHost is addr as the host of a URL one can open on this machine.
func urlHost(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return tcp.String()
}

// endpoints is the consume stream's HTTP multiplexer. Like Benthos' own
// server, a path that ends in / serves everything under it and any other
// path only itself, and a path registered again gets the new handler
// (http.ServeMux would panic).
type endpoints struct {
	mu       sync.RWMutex
	handlers map[string]http.HandlerFunc
}

func newEndpoints() *endpoints { return &endpoints{handlers: map[string]http.HandlerFunc{}} }

// HandleFunc registers h at path; Benthos components call it.
func (e *endpoints) HandleFunc(path string, h func(http.ResponseWriter, *http.Request)) {
	e.mu.Lock()
	e.handlers[path] = h
	e.mu.Unlock()
}

func (e *endpoints) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.RLock()
	h, ok := e.handlers[r.URL.Path]
	if !ok {
		longest := ""
		for p, ph := range e.handlers {
			if strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) && len(p) > len(longest) {
				longest, h = p, ph
			}
		}
	}
	e.mu.RUnlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// envLookup is what the configs see: the demo's settings, then the
// environment, then the demo's defaults.
func envLookup(opts Options, brokers string) func(string) (string, bool) {
	forced := map[string]string{
		"KAFKA_BROKERS": brokers,
		// A STATE_DIR left in the environment is refused by consume.yaml;
		// the demo's state lives on its own broker, new every run.
		"STATE_DIR": "",
	}
	defaults := map[string]string{
		"ORDERS_RATE":         demoRate,
		"REPORT_CLEAR_SCREEN": strconv.FormatBool(opts.Terminal),
	}
	return func(k string) (string, bool) {
		if v, ok := opts.Env[k]; ok {
			return v, true
		}
		if v, ok := forced[k]; ok {
			return v, true
		}
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := defaults[k]
		return v, ok
	}
}

// buildStream builds a stream of env from a config file of dir, or from the
// copy built into the binary when dir does not have it. With a mux, the
// stream's HTTP endpoints are served there; without, it has none.
func buildStream(env *service.Environment, mux service.HTTPMultiplexer, dir, name string, stderr io.Writer, lookup func(string) (string, bool)) (*service.Stream, error) {
	yaml, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		yaml, err = config.Files.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	sb := env.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(lookup)
	if mux != nil {
		sb.SetHTTPMux(mux)
	}
	if err := sb.SetYAML(string(yaml)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Logs go to stderr: stdout carries the table or the JSON snapshots.
	// (A stream builder logs to stdout unless the config names a log file.)
	sb.SetLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(lookup)})))
	stream, err := sb.Build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return stream, nil
}

// logLevel is LOG_LEVEL as a slog level: WARN, the configs' level in the
// demo, when it is unset or unknown.
func logLevel(lookup func(string) (string, bool)) slog.Level {
	v, _ := lookup("LOG_LEVEL")
	switch strings.ToUpper(v) {
	case "ALL", "TRACE", "DEBUG":
		return slog.LevelDebug
	case "INFO":
		return slog.LevelInfo
	case "ERROR", "FATAL":
		return slog.LevelError
	case "OFF", "NONE":
		return slog.LevelError + 1
	}
	return slog.LevelWarn
}
