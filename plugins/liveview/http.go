package liveview

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The paths the Hub serves (docs/CONTRACT.md, section 8).
const (
	PathSnapshot     = "/totais"
	PathStream       = "/totais/stream"
	PathPainel       = "/totais/painel"
	PathPainelStream = "/totais/painel/stream"
	PathAssets       = "/painel/"
)

const (
	// keepaliveEvery sends an SSE comment on a quiet stream, so that a client
	// gone without closing is noticed and proxies keep the connection.
	keepaliveEvery = 15 * time.Second
	// writeTimeout ends a stream whose client stopped reading.
	writeTimeout = 10 * time.Second
	// reconnectMillis is the delay an EventSource waits before it reconnects.
	reconnectMillis = 2000
)

// Route is one endpoint of the Hub.
type Route struct {
	Path    string
	Desc    string
	Handler http.HandlerFunc
}

// Routes are the Hub's endpoints but the dashboard's root path, which
// Register adds in the form the server's router understands.
func (h *Hub) Routes() []Route {
	snap := func(f *Frame) []byte { return f.Snapshot }
	painel := func(f *Frame) []byte { return f.Painel }
	routes := []Route{
		{PathSnapshot, "The latest sales snapshot, complete (JSON, CONTRACT section 6).", h.serveLatest(snap)},
		{PathStream, "Each new sales snapshot, as Server-Sent Events.", h.serveStream(snap)},
		{PathPainel, "The dashboard's view of the latest snapshot (JSON).", h.serveLatest(painel)},
		{PathPainelStream, "The dashboard's view of each new snapshot, as Server-Sent Events.", h.serveStream(painel)},
	}
	// One route per file, not a prefix: under streams mode a prefix route
	// would lose its trailing slash to the stream's path.
	for _, name := range assetNames() {
		routes = append(routes, Route{PathAssets + name, "A file of the dashboard.", serveAssets})
	}
	return routes
}

// getOnly answers anything but GET and HEAD with 405, and reports whether
// the request may go on.
func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, fmt.Sprintf("method %s not allowed: use GET", r.Method), http.StatusMethodNotAllowed)
	return false
}

// serveLatest answers with the latest frame's document, or 503 before the
// first one.
func (h *Hub) serveLatest(pick func(*Frame) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !getOnly(w, r) {
			return
		}
		hdr := w.Header()
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		f := h.Latest()
		if f == nil {
			hdr.Set("Retry-After", "1")
			http.Error(w, "no snapshot yet: sales_aggregate takes the first one at its first interval once partitions are assigned (or records counted)", http.StatusServiceUnavailable)
			return
		}
		body := pick(f)
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	}
}

// serveStream sends the latest frame's document as an SSE event, then each
// newer one, until the client goes or the Hub closes. A client that reads
// slowly gets the latest document when it is ready, never a queue.
func (h *Hub) serveStream(pick func(*Frame) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !getOnly(w, r) {
			return
		}
		if n := h.addStreams(1); n > h.maxStreams {
			h.addStreams(-1)
			w.Header().Set("Retry-After", "5")
			http.Error(w, fmt.Sprintf("too many streams: %d clients are connected, the limit is %d", n-1, h.maxStreams), http.StatusServiceUnavailable)
			return
		}
		defer h.addStreams(-1)

		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
		if r.Method == http.MethodHead {
			return
		}
		rc := http.NewResponseController(w)
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		send := func(parts ...[]byte) error {
			if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			for _, p := range parts {
				if _, err := w.Write(p); err != nil {
					return err
				}
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
		if send([]byte("retry: "+strconv.Itoa(reconnectMillis)+"\n\n")) != nil {
			return
		}

		keepalive := time.NewTicker(keepaliveEvery)
		defer keepalive.Stop()
		var last uint64
		head := make([]byte, 0, 32)
		for {
			f, changed, closed := h.next()
			if f != nil && f.Seq != last {
				head = append(head[:0], "id: "...)
				head = strconv.AppendUint(head, f.Seq, 10)
				head = append(head, "\ndata: "...)
				// The documents are one line of JSON: one data field.
				if send(head, pick(f), []byte("\n\n")) != nil {
					return
				}
				last = f.Seq
			}
			if closed {
				return
			}
			select {
			case <-changed:
			case <-h.done:
			case <-r.Context().Done():
				return
			case <-keepalive.C:
				if send([]byte(": keepalive\n\n")) != nil {
					return
				}
			}
		}
	}
}
