package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

type otherKey struct{}

// TestRecordMessageSlabs makes enough messages to fill several slabs of
// contexts, then checks every message against its record: a context taken
// from a slab must not change as later ones are handed out.
func TestRecordMessageSlabs(t *testing.T) {
	meta := newRecordMeta("vendas", 2, [16]byte{9}, 5)
	ts := time.UnixMilli(1764000000123)
	var recs []*kgo.Record
	for i := range 3 * ctxSlab {
		r := &kgo.Record{
			Key:       []byte(strings.Repeat("k", i%40) + string(rune('a'+i%26))),
			Value:     []byte{byte(i)},
			Timestamp: ts.Add(time.Duration(i) * time.Millisecond),
			Offset:    int64(100 + i),
		}
		switch i % 50 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte(strings.Repeat("x", 5000))
		case 2:
			r.Value = nil // tombstone
			r.Headers = []kgo.RecordHeader{{Key: "origem", Value: []byte("loja")}, {Key: MetaOffset, Value: []byte("1")}, {Key: "vazio"}}
		}
		recs = append(recs, r)
	}
	msgs := make([]interface{ MetaGetMut(string) (any, bool) }, len(recs))
	for i, r := range recs {
		msg := meta.message(r)
		msgs[i] = msg
		pos, ok := PositionOf(msg)
		require.True(t, ok)
		assert.Equal(t, Position{Topic: "vendas", TopicID: [16]byte{9}, Partition: 2, Offset: r.Offset, Assignment: 5}, *pos)
		assert.Nil(t, msg.Context().Value(otherKey{}))
		// A context derived from the message's still finds the position.
		ctx, cancel := context.WithCancel(msg.Context())
		assert.Equal(t, pos, ctx.Value(positionKey{}))
		cancel()
	}
	for i, r := range recs {
		want := map[string]any{
			MetaKey:           string(r.Key),
			MetaTopic:         "vendas",
			MetaPartition:     2,
			MetaOffset:        int(r.Offset),
			MetaTimestampUnix: r.Timestamp.Unix(),
			MetaTimestampMs:   r.Timestamp.UnixMilli(),
			MetaTombstone:     r.Value == nil,
		}
		for _, h := range r.Headers {
			if _, reserved := reservedMeta[h.Key]; reserved {
				want[HeaderPrefix+h.Key] = string(h.Value)
			} else {
				want[h.Key] = string(h.Value)
			}
		}
		for k, v := range want {
			got, ok := msgs[i].MetaGetMut(k)
			require.True(t, ok, "record %d: metadata %s missing", i, k)
			require.Equal(t, v, got, "record %d: metadata %s", i, k)
		}
	}
}
