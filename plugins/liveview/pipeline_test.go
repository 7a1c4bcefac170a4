package liveview_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }

// freeAddr is a local address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// memoryPipeline is generate → sales_aggregate (in memory) → drop: one
// order every 5ms, a snapshot every 20ms.
const memoryPipeline = `
input:
  generate:
    interval: 5ms
    mapping: |
      root = {"id_ordem": uuid_v4(), "documento_cliente": "529.982.247-25",
              "produtos": [{"nome": "Mouse <b>sem fio</b>", "quantidade": 2, "preco_unitario": 59.90}],
              "valor_total": 119.80, "data_hora_venda": "24/11/2026 18:03:59"}
buffer:
  sales_aggregate:
    interval: 20ms
output:
  drop: {}
logger:
  level: WARN
`

// exactMux routes as demo's does: exact paths, and a path ending in / for
// everything under it (longest first).
type exactMux struct {
	mu sync.Mutex
	m  map[string]func(http.ResponseWriter, *http.Request)
}

func (e *exactMux) HandleFunc(path string, h func(http.ResponseWriter, *http.Request)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]func(http.ResponseWriter, *http.Request){}
	}
	e.m[path] = h
}

func (e *exactMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	h := e.m[r.URL.Path]
	if h == nil {
		longest := ""
		for p, ph := range e.m {
			if strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p) && len(p) > len(longest) {
				longest, h = p, ph
			}
		}
	}
	e.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// get fetches url, failing the test on a transport error.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	return resp, string(body)
}

// waitSnapshot polls base/totais until it answers 200 with a snapshot cond
// accepts, and returns the snapshot and its bytes.
func waitSnapshot(t *testing.T, base string, cond func(*aggregate.Snapshot) bool) (*aggregate.Snapshot, []byte) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(base + "/totais")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s, err := aggregate.ParseSnapshot(body)
				require.NoError(t, err, string(body))
				if cond(s) {
					return s, body
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/totais did not show the expected snapshot in time (last error %v)", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndpointsOnBothServers runs a pipeline with the endpoints on Benthos'
// own HTTP server (http.address, as `vendas-connect -c` runs it) and on a
// mux given to StreamBuilder.SetHTTPMux (as demo runs it), and stops it
// while a stream is open.
func TestEndpointsOnBothServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, sb *service.StreamBuilder) string // returns the base URL
	}{
		{"benthos http.address", func(t *testing.T, sb *service.StreamBuilder) string {
			addr := freeAddr(t)
			require.NoError(t, sb.SetYAML(fmt.Sprintf("http:\n  enabled: true\n  address: %s\n%s", addr, memoryPipeline)))
			return "http://" + addr
		}},
		{"SetHTTPMux with a ServeMux", func(t *testing.T, sb *service.StreamBuilder) string {
			require.NoError(t, sb.SetYAML(memoryPipeline))
			mux := http.NewServeMux()
			sb.SetHTTPMux(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			return srv.URL
		}},
		{"SetHTTPMux with demo's router", func(t *testing.T, sb *service.StreamBuilder) string {
			require.NoError(t, sb.SetYAML(memoryPipeline))
			mux := &exactMux{}
			sb.SetHTTPMux(mux)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			return srv.URL
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := service.NewStreamBuilder()
			base := tc.build(t, sb)
			stream, err := sb.Build()
			require.NoError(t, err)
			runDone := make(chan error, 1)
			go func() { runDone <- stream.Run(context.Background()) }()

			s, _ := waitSnapshot(t, base, func(*aggregate.Snapshot) bool { return true })
			assert.Equal(t, aggregate.ModeComplete, s.Mode)
			require.Len(t, s.Products, 1)
			assert.Equal(t, "Mouse <b>sem fio</b>", s.Products[0].Name)

			resp, body := get(t, base+"/")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.True(t, strings.HasPrefix(body, "<!doctype html>"), body)
			assert.NotEmpty(t, resp.Header.Get("Content-Security-Policy"))
			resp, _ = get(t, base+"/nada")
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the dashboard is at / only")
			resp, body = get(t, base+"/painel/app.js")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, body, "textContent")
			resp, body = get(t, base+"/totais/painel")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, body, `"top":[{"produto":"Mouse `)

			// A stream client, then the pipeline stops: the stream ends and
			// does not hold the stop up.
			resp, err = http.Get(base + "/totais/stream")
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
			r := bufio.NewReader(resp.Body)
			for {
				line, err := r.ReadString('\n')
				require.NoError(t, err)
				if strings.HasPrefix(line, "data: ") {
					_, err := aggregate.ParseSnapshot([]byte(strings.TrimPrefix(line, "data: ")))
					require.NoError(t, err, "each event is a snapshot")
					break
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, stream.Stop(ctx), "the pipeline stops with a stream client connected")
			_, err = io.Copy(io.Discard, r)
			assert.NoError(t, err, "the stream ended cleanly")
			select {
			case err := <-runDone:
				require.NoError(t, err)
			case <-ctx.Done():
				t.Fatal("Run did not return after Stop")
			}
		})
	}
}
