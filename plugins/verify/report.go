package verify

import (
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
)

// Duplicates modes: how a consumer is expected to count a duplicate copy.
const (
	DupsOnce = "once" // each id_ordem once: what a correct consumer does
	DupsEach = "each" // every record: what sales_aggregate does today
)

// productDiff is one product whose figures differ.
type productDiff struct {
	name                string
	wantUnits, gotUnits string
	wantOrd, gotOrd     string
	wantCents, gotCents string
	diff                string
}

// comparison is the outcome of comparing totals with the expected results.
type comparison struct {
	counts   []string // lines about pedidos and rejeitados that differ
	products []productDiff
	compared int
	notes    []string
}

func (c *comparison) equal() bool { return len(c.counts) == 0 && len(c.products) == 0 }

// compare compares got with want, exactly.
func compare(want *Want, got *Totals) *comparison {
	c := &comparison{}
	if got.Orders != nil && got.Orders.Cmp(ratOf(want.Orders)) != 0 {
		c.counts = append(c.counts, fmt.Sprintf("pedidos: expected %d, got %s (%s)", want.Orders, formatRat(got.Orders), signed(new(big.Rat).Sub(got.Orders, ratOf(want.Orders)))))
	}
	if got.Rejected != nil && got.Rejected.Cmp(ratOf(want.Rejected)) != 0 {
		c.counts = append(c.counts, fmt.Sprintf("rejeitados: expected %d, got %s (%s)", want.Rejected, formatRat(got.Rejected), signed(new(big.Rat).Sub(got.Rejected, ratOf(want.Rejected)))))
	}
	noUnits, noOrders := false, false
	names := map[string]bool{}
	for n := range want.Products {
		names[n] = true
	}
	for n := range got.Products {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		w, inWant := want.Products[name]
		g, inGot := got.Products[name]
		c.compared++
		d := productDiff{name: name, wantUnits: "-", gotUnits: "-", wantOrd: "-", gotOrd: "-", wantCents: "-", gotCents: "missing"}
		if inWant {
			d.wantUnits, d.wantOrd, d.wantCents = strconv.FormatInt(w.Units, 10), strconv.FormatInt(w.Orders, 10), strconv.FormatInt(int64(w.Value), 10)
		}
		differs := inWant != inGot
		if inGot {
			gotCents := centsOf(g.Value)
			d.gotCents = formatRat(gotCents)
			diff := new(big.Rat).Sub(gotCents, ratOf(int64(w.Value)))
			d.diff = signed(diff)
			differs = differs || diff.Sign() != 0
			if g.Units != nil {
				d.gotUnits = formatRat(g.Units)
				differs = differs || g.Units.Cmp(ratOf(w.Units)) != 0
			} else {
				noUnits = true
			}
			if g.Orders != nil {
				d.gotOrd = formatRat(g.Orders)
				differs = differs || g.Orders.Cmp(ratOf(w.Orders)) != 0
			} else {
				noOrders = true
			}
		} else {
			d.diff = signed(ratOf(-int64(w.Value)))
		}
		if differs {
			c.products = append(c.products, d)
		}
	}
	if noUnits {
		c.notes = append(c.notes, "the consumer's output has no units (quantidade): not compared")
	}
	if noOrders {
		c.notes = append(c.notes, "the consumer's output has no order counts per product (pedidos): not compared")
	}
	if got.Orders == nil {
		c.notes = append(c.notes, "the consumer's output has no order count (pedidos): not compared")
	}
	return c
}

// describe says which streams the expected results cover.
func describe(w *Want) []string {
	var out []string
	for _, e := range w.Streams {
		state := "complete"
		if !e.Complete {
			state = "so far: the producer had not finished"
		}
		seqs := fmt.Sprintf("seqs %d to %d", e.First, e.Last)
		if e.Empty() {
			seqs = "no order yet"
		}
		out = append(out, fmt.Sprintf("seed %d, instance %d, %s (%s)", e.Seed, e.Instance, seqs, state))
	}
	return out
}

// report prints the comparison and the DLQ audit and says whether
// everything matched.
func report(out io.Writer, want *Want, got *Totals, dups string, dlq *dlqAudit, dlqTopic string) bool {
	fmt.Fprintln(out, "expected results:")
	for _, s := range describe(want) {
		fmt.Fprintln(out, "  "+s)
	}
	fmt.Fprintf(out, "  %d orders (each id_ordem once), %d rejected records, %d products", want.Orders, want.Rejected, len(want.Products))
	if want.DupOrders > 0 {
		fmt.Fprintf(out, "; %d duplicate copies", want.DupOrders)
	}
	fmt.Fprintln(out)
	target := want
	if dups == DupsEach && want.DupOrders > 0 {
		target = want.withDuplicates()
		fmt.Fprintf(out, "  compared counting every duplicate copy too (--duplicates each): %d orders\n", target.Orders)
	}
	ok := true
	if got != nil {
		fmt.Fprintf(out, "consumer: %s\n", got.Source)
		for _, n := range got.Notes {
			fmt.Fprintln(out, "  "+n)
		}
		c := compare(target, got)
		for _, n := range c.notes {
			fmt.Fprintln(out, "  "+n)
		}
		for _, l := range c.counts {
			fmt.Fprintln(out, l)
		}
		if len(c.products) > 0 {
			fmt.Fprintf(out, "%d of %d products differ (money in centavos, exact):\n", len(c.products), c.compared)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "units expected\tunits got\torders expected\torders got\tcentavos expected\tcentavos got\tdiff centavos\t  product")
			for _, d := range c.products {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", d.wantUnits, d.gotUnits, d.wantOrd, d.gotOrd, d.wantCents, d.gotCents, d.diff, strconv.Quote(shorten(d.name)))
			}
			_ = tw.Flush()
		} else {
			fmt.Fprintf(out, "all %d products equal to the centavo\n", c.compared)
		}
		if !c.equal() {
			ok = false
			if dups == DupsOnce && want.DupOrders > 0 && compare(want.withDuplicates(), got).equal() {
				fmt.Fprintf(out, "the differences are exactly the %d duplicate copies: the consumer counts every record, not every id_ordem (sales_aggregate does so today; --duplicates each accepts it)\n", want.DupOrders)
			}
		}
	}
	if dlq != nil && !reportDLQ(out, want, dlq, dlqTopic) {
		ok = false
	}
	if ok {
		fmt.Fprintln(out, "RESULT: EQUAL")
	} else {
		fmt.Fprintln(out, "RESULT: DIFFERENT")
	}
	return ok
}

// reportDLQ compares the fault labels in a DLQ with the rejected classes
// the expected results count.
func reportDLQ(out io.Writer, want *Want, dlq *dlqAudit, topic string) bool {
	fmt.Fprintf(out, "DLQ %s: %d records\n", topic, dlq.Records)
	ok := true
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault class\texpected\tin the DLQ\t\t")
	var missing, unexpected []string
	for _, f := range generator.Faults() {
		name := f.String()
		exp := 0
		if f.Rejected() {
			exp = want.Faults[name]
		}
		got := dlq.Labels[name]
		if exp == 0 && got == 0 {
			continue
		}
		mark := ""
		switch {
		case got < exp:
			mark = "MISSING"
			missing = append(missing, fmt.Sprintf("%s (%d of %d)", name, exp-got, exp))
		case got > exp && !f.Rejected():
			mark = "VALID ORDERS REJECTED"
			unexpected = append(unexpected, fmt.Sprintf("%s (%d)", name, got))
		case got > exp:
			mark = "MORE"
			unexpected = append(unexpected, fmt.Sprintf("%s (%d more)", name, got-exp))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", name, exp, got, mark)
	}
	_ = tw.Flush()
	for label, n := range dlq.Labels {
		if _, err := generator.ParseFault(label); err != nil {
			unexpected = append(unexpected, fmt.Sprintf("unknown label %q (%d)", shorten(label), n))
		}
	}
	if len(missing) > 0 {
		ok = false
		fmt.Fprintf(out, "fault classes missing from the DLQ: %s\n", strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		ok = false
		sort.Strings(unexpected)
		fmt.Fprintf(out, "in the DLQ but not expected there: %s\n", strings.Join(unexpected, ", "))
	}
	if dlq.Unlabelled > 0 {
		ok = false
		fmt.Fprintf(out, "%d records in the DLQ carry no %s header: the consumer rejected records the producer did not inject as faults\n", dlq.Unlabelled, generator.FaultHeader)
	}
	return ok
}
