// Package liveview serves a pipeline's totals over HTTP while it runs: the
// latest snapshot (/totais), a Server-Sent Events stream of them
// (/totais/stream), the dashboard's view of them (/totais/painel and its
// stream) and the dashboard itself (/), with its assets built into the
// binary. It knows nothing of the formats: sales_aggregate publishes the JSON
// documents, the Hub hands the latest to every client.
package liveview

import (
	"sync"
	"sync/atomic"
)

// Frame is one publication: a snapshot and the dashboard's view of it. Its
// byte slices are never changed once published.
type Frame struct {
	// Seq numbers the frames of a Hub, from 1; SSE clients see it as the
	// event id.
	Seq      uint64
	Snapshot []byte
	Painel   []byte
}

// Hub holds the latest Frame and wakes the clients waiting for the next.
// Publish costs the same with one client or a thousand, and never waits for
// one: a client that is slow to read skips to the latest frame.
type Hub struct {
	mu      sync.Mutex
	latest  *Frame
	changed chan struct{} // closed and replaced by each Publish
	closed  bool
	done    chan struct{} // closed by Close

	streams    atomic.Int64
	maxStreams int64
	gauge      func(int64) // told how many streams there are, when set
}

// DefaultMaxStreams bounds the SSE clients of a Hub: each costs a goroutine
// and a write per frame, which the consumer's machine pays.
const DefaultMaxStreams = 64

// NewHub returns a Hub with nothing published yet.
func NewHub() *Hub {
	return &Hub{changed: make(chan struct{}), done: make(chan struct{}), maxStreams: DefaultMaxStreams}
}

// Publish makes f the latest frame and wakes the streams. f's slices must not
// change afterwards. Publishing to a closed Hub does nothing.
func (h *Hub) Publish(f *Frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.latest = f
	close(h.changed)
	h.changed = make(chan struct{})
}

// Latest returns the latest frame, nil before the first.
func (h *Hub) Latest() *Frame {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest
}

// next returns the latest frame, a channel closed when there is a newer one,
// and whether the Hub is closed.
func (h *Hub) next() (*Frame, <-chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest, h.changed, h.closed
}

// Close ends every stream once it has sent the latest frame; the snapshot
// endpoints keep answering with it.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
}

// SetStreamsGauge makes the Hub report how many SSE clients are connected to
// set (a metrics gauge) each time that changes. Call it before serving.
func (h *Hub) SetStreamsGauge(set func(int64)) { h.gauge = set }

func (h *Hub) addStreams(d int64) int64 {
	n := h.streams.Add(d)
	if h.gauge != nil {
		h.gauge(n)
	}
	return n
}

// Streams is how many SSE clients are connected.
func (h *Hub) Streams() int { return int(h.streams.Load()) }
