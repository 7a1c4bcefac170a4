package aggregate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v2"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// ResetCommand returns the `reset-state` subcommand: it deletes a state
// topic, so that consume.yaml starts the totals afresh.
func ResetCommand() *cli.Command {
	return &cli.Command{
		Name:  "reset-state",
		Usage: "Delete the state topic of sales_aggregate, to start the totals afresh",
		Description: `Deletes the compacted topic where sales_aggregate keeps the totals of every
partition (consume.yaml: <KAFKA_TOPIC>_totais). Stop every consume.yaml of the
group first. The next start counts every partition of the topic from its
beginning. Use it when the orders topic was deleted and created again, as the
consumer's error message says:

  vendas-connect reset-state --brokers 127.0.0.1:9092 --state-topic vendas_ecommerce_totais

SASL and TLS come from the environment, as in the shipped configs:
KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; none by default),
KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_TLS (true: TLS with the
system's CA roots).`,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:  "brokers",
				Value: envOr("KAFKA_BROKERS", "localhost:9092"),
				Usage: "seed brokers, comma-separated (default: $KAFKA_BROKERS)",
			},
			&cli.StringFlag{
				Name:  "state-topic",
				Value: envOr("KAFKA_TOPIC", "vendas_ecommerce") + "_totais",
				Usage: "the state topic to delete (default: $KAFKA_TOPIC_totais)",
			},
		},
		Action: func(c *cli.Context) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return resetState(ctx, strings.Split(c.String("brokers"), ","), c.String("state-topic"), c.App.Writer)
		},
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type writer interface{ Write([]byte) (int, error) }

func resetState(ctx context.Context, brokers []string, topic string, out writer) error {
	if topic == "" {
		return errors.New("--state-topic is empty")
	}
	opts, err := kafka.EnvClientOpts(brokers)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		_, _ = fmt.Fprintf(out, "state topic %s does not exist: nothing to reset\n", topic)
		return nil
	case err != nil:
		return fmt.Errorf("deleting state topic %s: %w", topic, err)
	}
	_, _ = fmt.Fprintf(out, "deleted state topic %s: the next consume.yaml counts every partition from its beginning\n", topic)
	return nil
}
