package devbroker

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Command returns the `dev-broker` subcommand, which runs an embedded broker
// until SIGINT or SIGTERM.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "dev-broker",
		Usage: "Run an embedded Kafka-compatible broker for development (data in memory only)",
		Description: `Starts a single Kafka-compatible broker (franz-go kfake) inside this process,
so the produce and consume configs can run without installing Kafka:

  vendas-connect dev-broker --addr 127.0.0.1:9092 --partitions 6
  KAFKA_BROKERS=127.0.0.1:9092 vendas-connect -c config/produce.yaml

Everything the broker holds is kept IN MEMORY ONLY and lost when it stops.
Topics not listed with --topic are created on first use with --partitions partitions.`,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "addr",
				Value: DefaultAddr,
				Usage: "host:port to listen on (port 0 picks a free port)",
			},
			&cli.IntFlag{
				Name:  "partitions",
				Value: DefaultPartitions,
				Usage: "partitions of created topics, including auto-created ones",
			},
			&cli.StringSliceFlag{
				Name:  "topic",
				Value: cli.NewStringSlice(DefaultTopics...),
				Usage: "topic to create at start (repeatable)",
			},
		},
		Action: func(c *cli.Context) error {
			parent := c.Context
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, c, Options{
				Addr:       c.String("addr"),
				Partitions: c.Int("partitions"),
				Topics:     c.StringSlice("topic"),
			})
		},
	}
}

func run(ctx context.Context, c *cli.Context, opts Options) error {
	if opts.Partitions < 1 {
		return fmt.Errorf("--partitions: %d is invalid, must be at least 1", opts.Partitions)
	}
	b, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer b.Close()

	// Messages for people go to stderr, like the pipelines' logs.
	w := c.App.ErrWriter
	fmt.Fprintf(w, "Embedded Kafka-compatible broker listening on %s\n", b.Addr())
	fmt.Fprintf(w, "Topics: %v (%d partitions each; other topics are created on first use)\n", opts.Topics, opts.Partitions)
	fmt.Fprintln(w, "WARNING: data is kept IN MEMORY ONLY and is lost when this process stops.")
	fmt.Fprintf(w, "Use it with:  export KAFKA_BROKERS=%s\n", b.Addr())
	fmt.Fprintln(w, "Press Ctrl+C to stop.")

	<-ctx.Done()
	fmt.Fprintln(w, "Stopping the embedded broker; its data is discarded.")
	return nil
}
