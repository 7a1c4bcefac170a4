package liveview

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveHub serves h's routes and the dashboard on a Go ServeMux, as a
// StreamBuilder with SetHTTPMux does.
func serveHub(t *testing.T, h *Hub) *httptest.Server {
	t.Helper()
	m := http.NewServeMux()
	for _, rt := range h.Routes() {
		m.HandleFunc(rt.Path, rt.Handler)
	}
	m.HandleFunc("/", dashboardAt("/"))
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func frame(seq uint64) *Frame {
	return &Frame{
		Seq:      seq,
		Snapshot: fmt.Appendf(nil, `{"pedidos":%d,"sequencia":%d}`, seq*10, seq),
		Painel:   fmt.Appendf(nil, `{"sequencia":%d}`, seq),
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotEndpoints(t *testing.T) {
	h := NewHub()
	srv := serveHub(t, h)

	resp, err := http.Get(srv.URL + PathSnapshot)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no snapshot yet")
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(body), "no snapshot yet")

	h.Publish(frame(1))
	h.Publish(frame(2))
	for path, want := range map[string]string{PathSnapshot: string(frame(2).Snapshot), PathPainel: string(frame(2).Painel)} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Equal(t, want, string(body), "%s is the latest frame", path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), path)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"), path)
	}

	resp, err = http.Post(srv.URL+PathSnapshot, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
}

func TestDashboardAndAssets(t *testing.T) {
	srv := serveHub(t, NewHub())
	for _, tc := range []struct {
		path, status, ctype string
	}{
		{"/", "200", "text/html; charset=utf-8"},
		{"/painel/app.js", "200", "text/javascript; charset=utf-8"},
		{"/painel/app.css", "200", "text/css; charset=utf-8"},
		{"/painel/uPlot.iife.min.js", "200", "text/javascript; charset=utf-8"},
		{"/painel/LICENSE.uPlot", "200", "text/plain; charset=utf-8"},
		{"/painel/index.html", "404", ""},
		{"/painel/", "404", ""},
		{"/painel/../go.mod", "404", ""},
		{"/outra", "404", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tc.status, fmt.Sprint(resp.StatusCode))
			if tc.ctype != "" {
				assert.Equal(t, tc.ctype, resp.Header.Get("Content-Type"))
				assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
				assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			}
			if tc.path == "/" {
				assert.Equal(t, contentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
			}
		})
	}

	// Revalidation by ETag costs no body.
	resp, err := http.Get(srv.URL + "/painel/app.js")
	require.NoError(t, err)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/painel/app.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
}

// sseReader reads the events of a stream.
type sseReader struct{ r *bufio.Reader }

type sseEvent struct{ id, data string }

func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func openStream(t *testing.T, ctx context.Context, url string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	return resp, &sseReader{bufio.NewReader(resp.Body)}
}

func TestStreamSendsTheLatestThenEachNew(t *testing.T) {
	h := NewHub()
	srv := serveHub(t, h)
	h.Publish(frame(1))
	for path, pick := range map[string]func(*Frame) []byte{
		PathStream:       func(f *Frame) []byte { return f.Snapshot },
		PathPainelStream: func(f *Frame) []byte { return f.Painel },
	} {
		t.Run(path, func(t *testing.T) {
			_, sse := openStream(t, context.Background(), srv.URL+path)
			ev, err := sse.next()
			require.NoError(t, err)
			latest := h.Latest()
			assert.Equal(t, sseEvent{fmt.Sprint(latest.Seq), string(pick(latest))}, ev, "the latest frame first")

			next := frame(latest.Seq + 1)
			h.Publish(next)
			ev, err = sse.next()
			require.NoError(t, err)
			assert.Equal(t, sseEvent{fmt.Sprint(next.Seq), string(pick(next))}, ev)
		})
	}
}

// gatedWriter is a ResponseWriter whose Flush waits for the test.
type gatedWriter struct {
	hdr  http.Header
	gate chan struct{}
	mu   sync.Mutex
	buf  strings.Builder
}

func (g *gatedWriter) Header() http.Header { return g.hdr }
func (g *gatedWriter) WriteHeader(int)     {}
func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}
func (g *gatedWriter) Flush() { <-g.gate }
func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func TestSlowClientGetsTheLatestOnly(t *testing.T) {
	h := NewHub()
	h.Publish(frame(1))
	w := &gatedWriter{hdr: http.Header{}, gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, PathStream, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.serveStream(func(f *Frame) []byte { return f.Snapshot })(w, req)
	}()

	// The client is stuck on the stream's first write; meanwhile 1000
	// snapshots are taken, and publishing never waits for it.
	for seq := uint64(2); seq <= 1000; seq++ {
		h.Publish(frame(seq))
	}
	close(w.gate)
	waitFor(t, "the latest frame on the stream", func() bool { return strings.Contains(w.String(), "id: 1000\n") })
	got := w.String()
	assert.Equal(t, 1, strings.Count(got, "\ndata: "), "the slow client gets the latest frame, nothing queued: %q", got)
	cancel()
	<-done
}

func TestStreamsEndWhenClientsGo(t *testing.T) {
	h := NewHub()
	var gauge atomic.Int64
	gauge.Store(-1)
	h.SetStreamsGauge(gauge.Store)
	srv := serveHub(t, h)
	h.Publish(frame(1))
	ctx, cancel := context.WithCancel(context.Background())
	for range 5 {
		_, sse := openStream(t, ctx, srv.URL+PathStream)
		_, err := sse.next()
		require.NoError(t, err)
	}
	assert.Equal(t, 5, h.Streams())
	assert.Equal(t, int64(5), gauge.Load(), "the metric counts the streams")
	cancel()
	waitFor(t, "every stream handler to return", func() bool { return h.Streams() == 0 })
	assert.Zero(t, gauge.Load())
}

func TestStreamsEndWhenTheHubCloses(t *testing.T) {
	h := NewHub()
	srv := serveHub(t, h)
	h.Publish(frame(1))
	var readers []*sseReader
	for range 3 {
		_, sse := openStream(t, context.Background(), srv.URL+PathPainelStream)
		_, err := sse.next()
		require.NoError(t, err)
		readers = append(readers, sse)
	}
	h.Publish(frame(2))
	h.Close()
	for _, sse := range readers {
		ev, err := sse.next()
		require.NoError(t, err)
		assert.Equal(t, "2", ev.id, "the last frame is sent before the end")
		_, err = sse.next()
		assert.ErrorIs(t, err, io.EOF, "then the stream ends")
	}
	waitFor(t, "every stream handler to return", func() bool { return h.Streams() == 0 })

	// The snapshot stays readable after the end.
	resp, err := http.Get(srv.URL + PathSnapshot)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestStreamLimit(t *testing.T) {
	h := NewHub()
	h.maxStreams = 2
	srv := serveHub(t, h)
	h.Publish(frame(1))
	for range 2 {
		openStream(t, context.Background(), srv.URL+PathStream)
	}
	resp, err := http.Get(srv.URL + PathStream)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), "the limit is 2")
}

// gorillaRegistrar routes as Benthos' own HTTP server does (internal/api:
// gorilla/mux, a path ending in / is a prefix, and every route again under
// root_path).
type gorillaRegistrar struct{ r *mux.Router }

func (g gorillaRegistrar) RegisterEndpoint(path, _ string, h http.HandlerFunc) {
	for _, p := range []string{path, "/benthos" + path} {
		if strings.HasSuffix(p, "/") {
			g.r.PathPrefix(p).Handler(h)
		} else {
			g.r.Path(p).Handler(h)
		}
	}
}

// serveMuxRegistrar is StreamBuilder.SetHTTPMux with a Go ServeMux.
type serveMuxRegistrar struct{ m *http.ServeMux }

func (s serveMuxRegistrar) RegisterEndpoint(path, _ string, h http.HandlerFunc) {
	s.m.HandleFunc(path, h)
}

func TestRootPatternMatchesTheRootAlone(t *testing.T) {
	type server struct {
		reg     endpointRegistrar
		handler http.Handler
		root    string
	}
	gorilla, serveMux := mux.NewRouter(), http.NewServeMux()
	for name, tc := range map[string]server{
		"gorilla (Benthos' server)": {gorillaRegistrar{gorilla}, gorilla, gorillaRoot},
		"ServeMux (SetHTTPMux)":     {serveMuxRegistrar{serveMux}, serveMux, "/"},
	} {
		t.Run(name, func(t *testing.T) {
			h := NewHub()
			h.Publish(frame(1))
			require.NoError(t, registerAll(tc.reg, h, tc.root))
			// A route another component registers afterwards still works:
			// the dashboard is not a catch-all prefix.
			tc.reg.RegisterEndpoint("/depois", "", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "depois") })
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			for path, want := range map[string]string{
				"/":              "<!doctype html>",
				"/depois":        "depois",
				"/totais":        `{"pedidos":10,"sequencia":1}`,
				"/totais/stream": "retry: 2000",
				"/nada":          "404 page not found",
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				buf := make([]byte, len(want))
				_, err = io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				cancel()
				require.NoError(t, err, path)
				assert.Equal(t, want, string(buf), path)
			}
		})
	}
}

// TestRootPathPerServer checks which dashboard path a stream's components
// get: the gorilla one on Benthos' own server, "/" on a SetHTTPMux mux.
func TestRootPathPerServer(t *testing.T) {
	env := service.NewEnvironment()
	var mu sync.Mutex
	var roots []string
	require.NoError(t, env.RegisterProcessor("capture_root", service.NewConfigSpec(),
		func(_ *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			_, root, err := registrar(mgr)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			roots = append(roots, root)
			mu.Unlock()
			return noop{}, nil
		}))
	for name, tc := range map[string]struct {
		http string
		mux  bool
		want string
	}{
		"benthos http.address": {http: "http:\n  enabled: true\n  address: 127.0.0.1:0\n", want: gorillaRoot},
		"SetHTTPMux":           {mux: true, want: "/"},
	} {
		t.Run(name, func(t *testing.T) {
			roots = nil
			sb := env.NewStreamBuilder()
			require.NoError(t, sb.SetYAML(tc.http+"input:\n  generate:\n    count: 1\n    mapping: root = {}\npipeline:\n  processors:\n    - capture_root: {}\noutput:\n  drop: {}\n"))
			if tc.mux {
				sb.SetHTTPMux(http.NewServeMux())
			}
			stream, err := sb.Build()
			require.NoError(t, err)
			require.NoError(t, stream.Run(context.Background()))
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, roots)
			assert.Equal(t, tc.want, roots[0])
		})
	}
}

type noop struct{}

func (noop) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	return service.MessageBatch{m}, nil
}
func (noop) Close(context.Context) error { return nil }
