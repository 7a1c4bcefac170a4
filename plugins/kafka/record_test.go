package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/redpanda-data/benthos/v4/public/service"
)

type otherKey struct{}

// TestRecordMessageSlabs makes enough messages to fill several slabs of
// contexts, then checks every message against its record: a context taken
// from a slab must not change as later ones are handed out.
func TestRecordMessageSlabs(t *testing.T) {
	meta := newRecordMeta(context.Background(), "vendas", 2, [16]byte{9}, 5)
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

// recordingProvider is a tracer provider other than the no-op one, as a user
// who configures a tracer gets.
type recordingProvider struct{ noop.TracerProvider }

// TestUntracedMessages: under tracer: none (the default) messages are made
// in untraced contexts, whose span Benthos' no-op tracer hands back without
// allocating a context per message; a trace ID read from them is still all
// zeros. With any other tracer they get a context without a span, so the
// tracer starts each message's trace as before.
func TestUntracedMessages(t *testing.T) {
	run := func(t *testing.T, tracer string) (context.Context, []string) {
		env := service.NewEnvironment()
		require.NoError(t, env.RegisterOtelTracerProvider("recording", service.NewConfigSpec(),
			func(*service.ParsedConfig) (trace.TracerProvider, error) { return recordingProvider{}, nil }))
		var background context.Context
		require.NoError(t, env.RegisterBatchInput("records", service.NewConfigSpec(),
			func(_ *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
				background = recordBackground(mgr)
				meta := newRecordMeta(background, "vendas", 0, [16]byte{}, 0)
				done := false
				return &funcBatchInput{read: func(context.Context) (service.MessageBatch, error) {
					if done {
						return nil, service.ErrEndOfInput
					}
					done = true
					return service.MessageBatch{meta.message(&kgo.Record{Key: []byte("k"), Value: []byte("{}"), Offset: 7})}, nil
				}}, nil
			}))
		var ids []string
		require.NoError(t, env.RegisterProcessor("capture", service.NewConfigSpec(),
			func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
				return captureProcessor(func(b []byte) { ids = append(ids, string(b)) }), nil
			}))
		sb := env.NewStreamBuilder()
		require.NoError(t, sb.SetYAML("input: { records: {} }\npipeline: { processors: [ { mapping: 'root = tracing_id()' }, { capture: {} } ] }\noutput: { drop: {} }\nlogger: { level: NONE }\n"+tracer))
		stream, err := sb.Build()
		require.NoError(t, err)
		require.NoError(t, stream.Run(t.Context()))
		return background, ids
	}

	t.Run("none", func(t *testing.T) {
		background, ids := run(t, "")
		assert.Equal(t, untraced, background)
		assert.Equal(t, []string{strings.Repeat("0", 32)}, ids)
		msg := newRecordMeta(background, "vendas", 0, [16]byte{}, 0).message(&kgo.Record{Offset: 1})
		assert.False(t, trace.SpanContextFromContext(msg.Context()).IsValid(), "nothing to propagate")
		tracer := noop.NewTracerProvider().Tracer("benthos")
		var ctx context.Context
		allocs := testing.AllocsPerRun(100, func() { ctx, _ = tracer.Start(msg.Context(), "input") })
		assert.Zero(t, allocs, "the no-op tracer allocated a context for a span")
		assert.Equal(t, msg.Context(), ctx)
		pos, ok := PositionOf(msg)
		require.True(t, ok)
		assert.EqualValues(t, 1, pos.Offset)
	})
	t.Run("another tracer", func(t *testing.T) {
		background, ids := run(t, "tracer: { recording: {} }\n")
		assert.Equal(t, context.Background(), background)
		assert.Equal(t, []string{strings.Repeat("0", 32)}, ids)
	})
}

// captureProcessor hands every message's content to a function.
type captureProcessor func([]byte)

func (c captureProcessor) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	b, err := m.AsBytes()
	c(b)
	return service.MessageBatch{m}, err
}

func (captureProcessor) Close(context.Context) error { return nil }
