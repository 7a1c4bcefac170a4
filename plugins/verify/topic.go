package verify

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// readTopic reads every record of topic, from the start of each partition
// to its end when the read began.
func readTopic(ctx context.Context, brokers []string, topic string) ([]*kgo.Record, error) {
	opts, err := kafka.EnvClientOpts(brokers)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s on %s: %w", topic, strings.Join(brokers, ","), err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("topic %s on %s: %w", topic, strings.Join(brokers, ","), err)
	}
	offsets := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		end, _ := ends.Lookup(topic, o.Partition)
		if end.Offset > o.Offset {
			offsets[o.Partition] = kgo.NewOffset().At(o.Offset)
			left[o.Partition] = end.Offset
		}
	})
	if len(left) == 0 {
		return nil, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("topic %s: read %d records, then: %w", topic, len(out), err)
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("topic %s partition %d: %w", topic, p, err) })
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out, nil
}

// totalsFromRecords reads a consumer's output topic: snapshots (the last
// complete one counts) or per-product rows (the last of each product).
func totalsFromRecords(recs []*kgo.Record, topic string) (*Totals, error) {
	var buf bytes.Buffer
	for _, r := range recs {
		buf.Write(bytes.ReplaceAll(r.Value, []byte("\n"), []byte(" ")))
		buf.WriteByte('\n')
	}
	t, err := readJSON(buf.Bytes(), "topic "+topic)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// dlqAudit is what a DLQ holds, by fault label.
type dlqAudit struct {
	Records    int
	Labels     map[string]int // distinct records per label
	Unlabelled int
}

// auditDLQ counts the DLQ's records by their fault header. The DLQ is
// written at least once, so a record is counted once per key, value and label.
func auditDLQ(recs []*kgo.Record) dlqAudit {
	a := dlqAudit{Records: len(recs), Labels: map[string]int{}}
	seen := map[string]bool{}
	for _, r := range recs {
		label := ""
		for _, h := range r.Headers {
			if h.Key == generator.FaultHeader {
				label = string(h.Value)
			}
		}
		id := label + "\x00" + string(r.Key) + "\x00" + string(r.Value)
		if seen[id] {
			continue
		}
		seen[id] = true
		if label == "" {
			a.Unlabelled++
			continue
		}
		a.Labels[label]++
	}
	return a
}
