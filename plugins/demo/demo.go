// Package demo runs the whole system in one process: an embedded
// Kafka-compatible broker, config/produce.yaml and config/consume.yaml.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"golang.org/x/sync/errgroup"

	"github.com/vendas-connect/vendas-connect/config"
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

// Run starts the broker and both pipelines and runs until ctx ends (Ctrl-C),
// or until both pipelines end by themselves. The consumer stops last, so its
// final table covers every order it read.
func Run(ctx context.Context, opts Options) error {
	// The broker outlives Ctrl-C: the consumer still reads and the outputs
	// still flush while the pipelines stop. It closes when Run returns.
	broker, err := devbroker.Start(context.WithoutCancel(ctx), devbroker.Options{Addr: "127.0.0.1:0", Partitions: opts.Partitions})
	if err != nil {
		return fmt.Errorf("starting the embedded broker: %w", err)
	}
	defer broker.Close()
	fmt.Fprintf(opts.Stderr, "vendas-connect demo: embedded broker at %s (in memory only), producing and consuming; Ctrl-C to stop\n", broker.Addr())

	lookup := envLookup(opts, broker.Addr())
	stderr := opts.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	produce, err := buildStream(opts.ConfigDir, "produce.yaml", stderr, func(k string) (string, bool) {
		// The producer's progress log would scroll the table away.
		if k == "LOG_LEVEL" {
			return "WARN", true
		}
		return lookup(k)
	})
	if err != nil {
		return err
	}
	consume, err := buildStream(opts.ConfigDir, "consume.yaml", stderr, lookup)
	if err != nil {
		return err
	}

	// The consumer outlives the producer: on Ctrl-C the producer stops first,
	// then the consumer drains what it has and prints its last table.
	consumeCtx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConsumer()
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
		// Ended by itself (ORDERS_COUNT) or by Ctrl-C: keep consuming until
		// Ctrl-C.
		select {
		case <-ctx.Done():
		case <-consumeCtx.Done():
		}
		return nil
	})
	g.Go(func() error {
		go func() {
			<-ctx.Done()
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

// buildStream builds a stream from a config file of dir, or from the copy
// built into the binary when dir does not have it.
func buildStream(dir, name string, stderr io.Writer, lookup func(string) (string, bool)) (*service.Stream, error) {
	yaml, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		yaml, err = config.Files.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	sb := service.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(lookup)
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
