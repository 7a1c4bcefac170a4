package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lz4Decompressor decompresses lz4 record batches block by block into a
// reused buffer, and returns a copy of just the batch. franz-go's default
// decompressor streams them through pierrec/lz4's Reader, which takes a buffer
// of the frame's declared block size (4 MiB in frames franz-go writes) for
// every batch, into a bytes.Buffer that it then copies: on a consumer of many
// small batches that was a tenth of its CPU, and the 4 MiB buffers (dropped
// from their pool at every garbage collection) a tenth of its heap.
//
// Frames it does not handle (dependent blocks, a dictionary, an unknown
// version) and every other codec go to franz-go's default decompressor.
// Checksums inside the frame are not verified: franz-go checks the CRC-32C of
// each record batch, which covers the compressed bytes, before this runs.
type lz4Decompressor struct {
	fallback kgo.Decompressor
	max      int       // largest batch it may decompress to
	scratch  sync.Pool // *[]byte
}

// maxDecompressedBatch is franz-go's own default bound (MaxDecompressBatchBytes).
const maxDecompressedBatch = 1 << 30

func newLZ4Decompressor() *lz4Decompressor {
	return &lz4Decompressor{fallback: kgo.DefaultDecompressor(), max: maxDecompressedBatch}
}

var (
	errLZ4Truncated = errors.New("lz4: frame is truncated")
	errLZ4TooLarge  = errors.New("lz4: batch decompresses to more than the allowed maximum")
)

const (
	lz4FrameMagic     = 0x184D2204
	lz4SkippableMagic = 0x184D2A50 // low four bits free
)

// Decompress implements kgo.Decompressor.
func (d *lz4Decompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	if codec != kgo.CodecLz4 {
		return d.fallback.Decompress(src, codec)
	}
	buf, _ := d.scratch.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	out, ok, err := decodeLZ4((*buf)[:0], src, d.max)
	if !ok {
		d.scratch.Put(buf)
		return d.fallback.Decompress(src, codec)
	}
	if err != nil {
		d.scratch.Put(buf)
		return nil, err
	}
	// The records keep pointing into what is returned: a copy of the exact
	// size, not the scratch buffer, which may be larger and is reused.
	res := slices.Clone(out)
	if cap(out) <= maxKeptScratch {
		*buf = out
		d.scratch.Put(buf)
	}
	return res, nil
}

// A scratch buffer grown past this by an unusually large batch is let go.
const maxKeptScratch = 8 << 20

// decodeLZ4 appends the decoded lz4 frames in src to out. It reports false,
// with no error, for a frame it leaves to the default decompressor.
func decodeLZ4(out, src []byte, limit int) ([]byte, bool, error) {
	// lz4 typically shrinks JSON three to four times.
	out = grow(out, min(4*len(src)+256, limit))
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, true, errLZ4Truncated
		}
		magic := binary.LittleEndian.Uint32(src)
		if magic&^0xF == lz4SkippableMagic {
			if len(src) < 8 {
				return nil, true, errLZ4Truncated
			}
			n := uint64(binary.LittleEndian.Uint32(src[4:])) + 8
			if n > uint64(len(src)) {
				return nil, true, errLZ4Truncated
			}
			src = src[n:]
			continue
		}
		if magic != lz4FrameMagic || len(src) < 7 {
			return nil, false, nil
		}
		flg, bd := src[4], src[5]
		const (
			flgVersion     = 0xC0
			flgIndependent = 0x20
			flgBlockSum    = 0x10
			flgSize        = 0x08
			flgContentSum  = 0x04
			flgDictID      = 0x01
		)
		if flg&flgVersion != 0x40 || flg&flgIndependent == 0 || flg&flgDictID != 0 {
			return nil, false, nil
		}
		blockMax := 0
		switch (bd >> 4) & 7 {
		case 4:
			blockMax = 64 << 10
		case 5:
			blockMax = 256 << 10
		case 6:
			blockMax = 1 << 20
		case 7:
			blockMax = 4 << 20
		default:
			return nil, false, nil
		}
		header := 7 // magic, FLG, BD, header checksum
		if flg&flgSize != 0 {
			header += 8
		}
		if len(src) < header {
			return nil, true, errLZ4Truncated
		}
		// A declared content size is only checked against the limit, not
		// used to allocate: the frame may lie.
		if flg&flgSize != 0 && binary.LittleEndian.Uint64(src[6:]) > uint64(limit-len(out)) {
			return nil, true, errLZ4TooLarge
		}
		src = src[header:]
		for {
			if len(src) < 4 {
				return nil, true, errLZ4Truncated
			}
			word := binary.LittleEndian.Uint32(src)
			src = src[4:]
			if word == 0 { // end mark
				break
			}
			n := int(word &^ (1 << 31))
			if n > len(src) {
				return nil, true, errLZ4Truncated
			}
			if n > blockMax {
				return nil, true, fmt.Errorf("lz4: a block of %d bytes in a frame of blocks up to %d", n, blockMax)
			}
			block := src[:n]
			src = src[n:]
			if flg&flgBlockSum != 0 {
				if len(src) < 4 {
					return nil, true, errLZ4Truncated
				}
				src = src[4:]
			}
			if word&(1<<31) != 0 { // stored uncompressed
				if n > limit-len(out) {
					return nil, true, errLZ4TooLarge
				}
				out = append(out, block...)
				continue
			}
			var err error
			if out, err = uncompressBlock(out, block, blockMax, limit); err != nil {
				return nil, true, err
			}
		}
		if flg&flgContentSum != 0 {
			if len(src) < 4 {
				return nil, true, errLZ4Truncated
			}
			src = src[4:]
		}
	}
	return out, true, nil
}

// uncompressBlock appends the decoded block to out. The decoder cannot tell
// a corrupt block from a short destination, so it tries again with more room,
// up to the frame's block size.
func uncompressBlock(out, block []byte, blockMax, limit int) ([]byte, error) {
	for {
		room := cap(out) - len(out)
		if room > 0 {
			n, err := lz4.UncompressBlock(block, out[len(out):cap(out)])
			if err == nil {
				// The buffer may be larger than what the limit leaves.
				if n > limit-len(out) {
					return nil, errLZ4TooLarge
				}
				return out[:len(out)+n], nil
			}
		}
		if room >= blockMax {
			return nil, errors.New("lz4: corrupt block")
		}
		if room >= limit-len(out) {
			return nil, errLZ4TooLarge
		}
		out = grow(out, min(max(2*room, len(block)*4, 64<<10), blockMax, limit-len(out)))
	}
}

// grow returns out with room for at least n more bytes.
func grow(out []byte, n int) []byte {
	if cap(out)-len(out) >= n {
		return out
	}
	next := make([]byte, len(out), max(len(out)+n, 2*cap(out)))
	copy(next, out)
	return next
}
