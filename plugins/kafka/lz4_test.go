package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// lz4Frame compresses data with pierrec/lz4's Writer, as franz-go's producer
// does, with the given options.
func lz4Frame(t testing.TB, data []byte, opts ...lz4.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	require.NoError(t, w.Apply(opts...))
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// testPayload is JSON-like text (compresses well) followed by random bytes
// (stored as uncompressed blocks).
func testPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n/2 {
		fmt.Fprintf(&b, `{"id_ordem":"%08x","produtos":[{"nome":"Notebook","quantidade":%d}]}`, r.Uint32(), r.IntN(9)+1)
	}
	for b.Len() < n {
		b.WriteByte(byte(r.Uint32()))
	}
	return b.Bytes()[:n]
}

func TestLZ4DecompressorMatchesDefault(t *testing.T) {
	def := kgo.DefaultDecompressor()
	d := newLZ4Decompressor()
	sizes := []int{0, 1, 100, 64 << 10, 300 << 10, 5 << 20}
	opts := map[string][]lz4.Option{
		"default (4MiB blocks, as franz-go)":    nil,
		"64KiB blocks (as Kafka's Java client)": {lz4.BlockSizeOption(lz4.Block64Kb)},
		"256KiB blocks, block checksums":        {lz4.BlockSizeOption(lz4.Block256Kb), lz4.BlockChecksumOption(true)},
		"1MiB blocks, no content checksum":      {lz4.BlockSizeOption(lz4.Block1Mb), lz4.ChecksumOption(false)},
		"content size in the header":            {lz4.SizeOption(5 << 20)},
		"best compression":                      {lz4.CompressionLevelOption(lz4.Level9)},
	}
	for name, o := range opts {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				data := testPayload(n, uint64(n))
				o := o
				if name == "content size in the header" {
					o = []lz4.Option{lz4.SizeOption(uint64(n))}
				}
				frame := lz4Frame(t, data, o...)
				got, err := d.Decompress(frame, kgo.CodecLz4)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(data, got), "decoded bytes differ from the input")
				want, err := def.Decompress(frame, kgo.CodecLz4)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(want, got), "decoded bytes differ from franz-go's decompressor")
			})
		}
	}
}

func TestLZ4DecompressorFramesInARow(t *testing.T) {
	a, b := testPayload(70000, 1), testPayload(1000, 2)
	skippable := binary.LittleEndian.AppendUint32(nil, lz4SkippableMagic|3)
	skippable = binary.LittleEndian.AppendUint32(skippable, 5)
	skippable = append(skippable, "xxxxx"...)
	src := append(append(lz4Frame(t, a), skippable...), lz4Frame(t, b, lz4.BlockSizeOption(lz4.Block64Kb))...)
	got, err := newLZ4Decompressor().Decompress(src, kgo.CodecLz4)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(append(append([]byte(nil), a...), b...), got))
}

// Every prefix of a frame is an error, never a panic nor a short result.
func TestLZ4DecompressorTruncated(t *testing.T) {
	frame := lz4Frame(t, testPayload(200<<10, 3), lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true))
	d := newLZ4Decompressor()
	for n := 1; n < len(frame); n += max(1, n/50) {
		_, err := d.Decompress(frame[:n], kgo.CodecLz4)
		require.Error(t, err, "prefix of %d of %d bytes", n, len(frame))
	}
}

func TestLZ4DecompressorCorruptBlock(t *testing.T) {
	frame := lz4Frame(t, testPayload(20000, 4)[:10000], lz4.BlockSizeOption(lz4.Block64Kb))
	// The first block starts after the 7-byte header and its size word; an
	// offset of zero in the first sequence is invalid.
	bad := bytes.Clone(frame)
	for i := 11; i < len(bad)-8; i++ {
		bad[i] = 0xFF
	}
	_, err := newLZ4Decompressor().Decompress(bad, kgo.CodecLz4)
	require.Error(t, err)
}

func TestLZ4DecompressorBound(t *testing.T) {
	frame := lz4Frame(t, bytes.Repeat([]byte("a"), 1<<20))
	d := newLZ4Decompressor()
	d.max = 1 << 19
	_, err := d.Decompress(frame, kgo.CodecLz4)
	require.ErrorIs(t, err, errLZ4TooLarge)
	d.max = 1 << 20
	got, err := d.Decompress(frame, kgo.CodecLz4)
	require.NoError(t, err)
	assert.Len(t, got, 1<<20)

	// The pooled scratch buffer now holds 1 MiB: the limit still applies.
	d.max = 1 << 19
	_, err = d.Decompress(frame, kgo.CodecLz4)
	require.ErrorIs(t, err, errLZ4TooLarge)
}

// A frame that declares a huge content size is not trusted to allocate it.
func TestLZ4DecompressorLyingContentSize(t *testing.T) {
	frame := lz4Frame(t, []byte("hello"), lz4.SizeOption(5))
	require.Equal(t, byte(0x08), frame[4]&0x08, "the frame declares its size")
	binary.LittleEndian.PutUint64(frame[6:], 1<<29) // header checksum not checked here
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := newLZ4Decompressor().Decompress(frame, kgo.CodecLz4)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "allocated for the declared size")
}

// Frames it does not decode itself go to franz-go's decompressor, and so do
// other codecs.
func TestLZ4DecompressorFallback(t *testing.T) {
	frame := lz4Frame(t, []byte("hello hello hello hello"))
	dependent := bytes.Clone(frame)
	dependent[4] &^= 0x20 // blocks depend on earlier ones
	_, ok, err := decodeLZ4(nil, dependent, 1<<20)
	assert.False(t, ok)
	assert.NoError(t, err)
	_, ok, _ = decodeLZ4(nil, []byte("not a frame at all"), 1<<20)
	assert.False(t, ok)

	snappyDef, _ := kgo.DefaultCompressor(kgo.SnappyCompression())
	var buf bytes.Buffer
	data := []byte("some record batch bytes, some record batch bytes")
	compressed, codec := snappyDef.Compress(&buf, data)
	require.Equal(t, kgo.CodecSnappy, codec)
	got, err := newLZ4Decompressor().Decompress(compressed, codec)
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

func FuzzLZ4Decompressor(f *testing.F) {
	f.Add(lz4Frame(f, testPayload(3000, 5)))
	f.Add(lz4Frame(f, testPayload(3000, 6), lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true), lz4.SizeOption(3000)))
	def := kgo.DefaultDecompressor()
	f.Fuzz(func(t *testing.T, src []byte) {
		d := newLZ4Decompressor()
		d.max = 8 << 20
		got, err := d.Decompress(src, kgo.CodecLz4)
		if err != nil {
			return
		}
		// What it accepts, franz-go's decoder (which verifies checksums)
		// either rejects or decodes the same.
		if want, err := def.Decompress(src, kgo.CodecLz4); err == nil {
			require.True(t, bytes.Equal(want, got), "decoded %d bytes, franz-go %d", len(got), len(want))
		}
	})
}

// BenchmarkLZ4Decompress decodes a record batch of real orders as
// produce.yaml writes them (franz-go's lz4 writer, 4 MiB frame blocks).
func BenchmarkLZ4Decompress(b *testing.B) {
	for _, orders := range []int{100, 1000} {
		data := ordersBatch(b, orders)
		frame := lz4Frame(b, data)
		for _, name := range []string{"franz-go", "ours"} {
			var d kgo.Decompressor = newLZ4Decompressor()
			if name == "franz-go" {
				d = kgo.DefaultDecompressor()
			}
			b.Run(fmt.Sprintf("%s/orders=%d/ratio=%.1f", name, orders, float64(len(data))/float64(len(frame))), func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Decompress(frame, kgo.CodecLz4); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// ordersBatch is n generated orders, one after another, as in a record batch.
func ordersBatch(tb testing.TB, n int) []byte {
	g, err := generator.New(generator.Options{
		Seed: 1, Catalog: generator.DefaultCatalog(), Customers: 5000, MaxItems: 5, MaxQuantity: 5,
		PopularitySkew: 1.1, BasketDecay: 0.45, QuantityDecay: 0.3,
		Clock: generator.Clock{Simulated: true, Start: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Speed: 1, Rate: 100},
	})
	require.NoError(tb, err)
	var o order.Order
	var out []byte
	for range n {
		g.Next(&o)
		out = o.AppendJSON(out)
	}
	return out
}
