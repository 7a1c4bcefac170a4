package demo

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Command returns the `demo` subcommand.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "Run the whole system in one process: an embedded broker, produce.yaml and consume.yaml",
		Description: `Starts an embedded Kafka-compatible broker (in memory only), then runs
config/produce.yaml and config/consume.yaml against it in this process and
shows the live table of sales per product; on a terminal the table is
redrawn in place and fits the window. With ORDERS_COUNT set it ends by
itself, status 0, once the consumer counted every order, after a last
table; Ctrl-C stops it cleanly at any time, after a last table that covers
every order read.

consume.yaml's HTTP endpoints (/metrics, the dashboard) are served on
CONSUME_HTTP_ADDRESS (default 127.0.0.1:4196, or a free port when that is
taken); stderr says where, in a line "dashboard: http://ADDR/".

The configs are read from --config-dir; a file missing there is taken from
the copy built into the binary. The environment variables of the configs
apply (ORDERS_RATE defaults to 200 here, ORDERS_SEED, ORDERS_COUNT,
OUTPUT_FORMAT, KAFKA_TOPIC, CONSUME_HTTP_ADDRESS), except KAFKA_BROKERS and
STATE_DIR, which the demo sets: its broker forgets everything when it stops.

  vendas-connect demo
  ORDERS_COUNT=5000 ORDERS_RATE=1000 vendas-connect demo
  ORDERS_RATE=2000 OUTPUT_FORMAT=json vendas-connect demo`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config-dir", Value: "config", Usage: "folder of produce.yaml and consume.yaml"},
			&cli.IntFlag{Name: "partitions", Value: 6, Usage: "partitions of the topics"},
		},
		Action: func(c *cli.Context) error {
			parent := c.Context
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return Run(ctx, Options{
				ConfigDir:  c.String("config-dir"),
				Partitions: c.Int("partitions"),
				Stderr:     c.App.ErrWriter,
				Terminal:   isTerminal(os.Stdout),
			})
		},
	}
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
