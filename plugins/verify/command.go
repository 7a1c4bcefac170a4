// Package verify is the `verify` command: it compares what a consumer of
// the orders reported with the expected results of the producers (package
// generator), exactly, and audits a DLQ by the faults' labels.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
)

// Exit statuses of verify.
const (
	ExitEqual     = 0
	ExitDifferent = 1
	ExitCannot    = 2
)

// Options are verify's inputs.
type Options struct {
	ExpectedFiles []string
	Config        string // a produce config to recompute from
	Instances     []int
	First, Last   uint64

	Actual      string // a file, or - for stdin
	Format      string
	Topic       string // a topic holding the consumer's output
	DLQTopic    string
	Brokers     []string
	Duplicates  string
	PrintWanted bool
	Timeout     time.Duration
}

// Command returns the `verify` subcommand.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "Compare a consumer's totals (and its DLQ) with the expected results of the producers",
		Description: `Compares what a consumer of the orders reported with what it must report,
exactly (money in centavos, read from the decimal text, never as a float),
and prints the products that differ. Exits 0 when everything is equal, 1 on
any difference, 2 when it cannot compare (a file missing or unreadable).

The expected results come from the producers' files (ORDERS_EXPECTED), one
per instance:

  vendas-connect verify --expected esperado.json --actual snapshots.jsonl

or are recomputed from the producer's config, its seed and a range of seqs
(the environment's ORDERS_SEED and the like are read as produce.yaml reads them):

  ORDERS_SEED=42 vendas-connect verify --config config/produce.yaml --last 200000 --actual totals.csv

The consumer's totals: --actual FILE (or - for stdin) holding our snapshots as
JSON lines (the last complete one counts), per-product rows as CSV with a
header or as JSON; or --topic T, a topic holding either. --dlq-topic T counts
the DLQ's records by their vendas_falha header and names the fault classes
missing from it. Topics are read with SASL and TLS from the environment, as
the shipped configs connect: KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
KAFKA_SASL_PASSWORD, KAFKA_TLS.`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "expected", Usage: "an expected results file written by sales_orders (repeat it for each instance)"},
			&cli.StringFlag{Name: "config", Usage: "recompute the expected results from this produce config instead"},
			&cli.IntSliceFlag{Name: "instance", Usage: "with --config: the producers' instances (repeat it)", Value: cli.NewIntSlice(0)},
			&cli.Uint64Flag{Name: "first", Usage: "with --config: the first seq", Value: 1},
			&cli.Uint64Flag{Name: "last", Usage: "with --config: the last seq (ORDERS_COUNT)"},
			&cli.StringFlag{Name: "actual", Usage: "the consumer's output: a file, or - for stdin"},
			&cli.StringFlag{Name: "format", Usage: "format of --actual: auto, snapshot, csv or json", Value: FormatAuto},
			&cli.StringFlag{Name: "topic", Usage: "a topic holding the consumer's output (snapshots or per-product rows)"},
			&cli.StringFlag{Name: "dlq-topic", Usage: "a DLQ topic to audit by fault label"},
			&cli.StringFlag{Name: "brokers", Usage: "seed brokers, comma-separated (default: $KAFKA_BROKERS or localhost:9092)"},
			&cli.StringFlag{Name: "duplicates", Usage: "how the consumer must count a duplicate copy: once (each id_ordem once, correct) or each (every record)", Value: DupsOnce},
			&cli.BoolFlag{Name: "print-expected", Usage: "print the expected results as JSON and stop"},
			&cli.DurationFlag{Name: "timeout", Usage: "how long reading topics may take", Value: 2 * time.Minute},
		},
		Action: func(c *cli.Context) error {
			brokers := c.String("brokers")
			if brokers == "" {
				brokers = os.Getenv("KAFKA_BROKERS")
			}
			if brokers == "" {
				brokers = "localhost:9092"
			}
			opts := Options{
				ExpectedFiles: c.StringSlice("expected"), Config: c.String("config"),
				Instances: c.IntSlice("instance"), First: c.Uint64("first"), Last: c.Uint64("last"),
				Actual: c.String("actual"), Format: c.String("format"), Topic: c.String("topic"),
				DLQTopic: c.String("dlq-topic"), Brokers: strings.Split(brokers, ","),
				Duplicates: c.String("duplicates"), PrintWanted: c.Bool("print-expected"), Timeout: c.Duration("timeout"),
			}
			code := Run(c.Context, opts, c.App.Writer, c.App.ErrWriter, os.Stdin, os.Getenv)
			if code != ExitEqual {
				lifecycle.Exit(code)
			}
			return nil
		},
	}
}

// Run verifies and returns the exit status; the report goes to out, a
// reason it could not compare to errOut.
func Run(ctx context.Context, opts Options, out, errOut io.Writer, stdin io.Reader, getenv func(string) string) int {
	ok, err := run(ctx, opts, out, stdin, getenv)
	if err != nil {
		fmt.Fprintf(errOut, "verify: %v\n", err)
		return ExitCannot
	}
	if !ok {
		return ExitDifferent
	}
	return ExitEqual
}

func run(ctx context.Context, opts Options, out io.Writer, stdin io.Reader, getenv func(string) string) (bool, error) {
	var streams []generator.Expected
	var err error
	switch {
	case len(opts.ExpectedFiles) > 0 && opts.Config != "":
		return false, errors.New("give --expected files or --config, not both")
	case len(opts.ExpectedFiles) > 0:
		streams, err = readExpectedFiles(opts.ExpectedFiles)
	case opts.Config != "":
		if opts.Last == 0 {
			return false, errors.New("--config needs --last, the seq of the last order (ORDERS_COUNT)")
		}
		streams, err = recompute(opts.Config, opts.Instances, opts.First, opts.Last, getenv)
	default:
		return false, errors.New("say what to expect: --expected FILE (from ORDERS_EXPECTED) or --config produce.yaml --last N")
	}
	if err != nil {
		return false, err
	}
	want, err := merge(streams)
	if err != nil {
		return false, err
	}
	if opts.PrintWanted {
		e := want.Expected()
		return true, writeJSONLine(out, &e)
	}
	if opts.Duplicates == "" {
		opts.Duplicates = DupsOnce
	}
	if opts.Duplicates != DupsOnce && opts.Duplicates != DupsEach {
		return false, fmt.Errorf("--duplicates must be %s or %s, got %q", DupsOnce, DupsEach, opts.Duplicates)
	}

	var got *Totals
	switch {
	case opts.Actual != "" && opts.Topic != "":
		return false, errors.New("give --actual or --topic, not both")
	case opts.Actual == "-":
		got, err = ReadTotals(stdin, "stdin", opts.Format)
	case opts.Actual != "":
		var f *os.File
		if f, err = os.Open(opts.Actual); err == nil {
			got, err = ReadTotals(f, opts.Actual, opts.Format)
			_ = f.Close()
		}
	case opts.Topic != "":
		tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		recs, rerr := readTopic(tctx, opts.Brokers, opts.Topic)
		cancel()
		if rerr != nil {
			return false, rerr
		}
		got, err = totalsFromRecords(recs, opts.Topic)
	case opts.DLQTopic == "":
		return false, errors.New("say what to check: --actual FILE, --topic T or --dlq-topic T")
	}
	if err != nil {
		return false, err
	}
	var audit *dlqAudit
	if opts.DLQTopic != "" {
		tctx, cancel := context.WithTimeout(ctx, opts.Timeout)
		recs, err := readTopic(tctx, opts.Brokers, opts.DLQTopic)
		cancel()
		if err != nil {
			return false, err
		}
		a := auditDLQ(recs)
		audit = &a
	}
	return report(out, want, got, opts.Duplicates, audit, opts.DLQTopic), nil
}
