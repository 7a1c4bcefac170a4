// Package gctune keeps the garbage collector from running too often in a
// process whose heap is small but which allocates fast, as a stream
// processor does: a Benthos message costs about a kilobyte of short-lived
// allocations, while what stays live is a few megabytes of buffers. With
// Go's default GOGC=100 the collector then starts every few megabytes of
// allocation, a hundred times a second, and took a tenth of consume.yaml's
// CPU.
//
// Start sets a minimum heap goal: after each collection it sets GOGC so that
// the next one starts when the heap reaches the larger of the minimum and
// what GOGC=100 would give (twice the live heap). A heap that grows past half
// the minimum is collected exactly as by default, so unlike a memory limit
// this never makes the collector run more often than Go would.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultMinHeap keeps vendas-connect's consumers under 100 MiB of resident
// memory (.ci/bench consume, .ci/bench kafka) while collecting a few times a
// second. The collector's share of the CPU falls as the goal rises (the
// floor of .ci/bench kafka, kafka_franz -> drop, keeps 10 to 20 MiB live)
// and resident memory rises with it, about one for one: 52 MiB leaves the
// consumers some room under 100 MiB (README, Memory).
const DefaultMinHeap = 52 << 20

// heapMinimum is the runtime's first heap goal at GOGC=100 (4 MiB), before
// any collection has measured a live heap; it scales with GOGC.
const heapMinimum = 4 << 20

// Disabled reports why Start would do nothing: the user set GOGC or
// GOMEMLIMIT, Go's own settings, which win. (Set but empty, they mean Go's
// defaults to the runtime, and to this package too.)
func Disabled() string {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if os.Getenv(v) != "" {
			return v + " is set"
		}
	}
	return ""
}

// Start keeps the heap goal at least minHeap bytes until stop is called,
// unless Disabled says otherwise. It returns the stop function.
func Start(minHeap uint64) (stop func()) {
	if Disabled() != "" || minHeap == 0 {
		return func() {}
	}
	t := &tuner{minHeap: minHeap, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	debug.SetGCPercent(Percent(0, 0, minHeap))
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(100)
		}
	}
}

type tuner struct {
	minHeap uint64

	// mu orders tune and stop: no GOGC is set after stop.
	mu      sync.Mutex
	stopped bool
	samples []metrics.Sample
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next collection and re-arms itself.
type sentinel struct{ t *tuner }

func (t *tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) {
		if s.t.tune() {
			s.t.arm()
		}
	})
}

// tune sets GOGC from what the last collection measured. It reports false
// once stopped.
func (t *tuner) tune() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	debug.SetGCPercent(Percent(v[0], v[1]+v[2], t.minHeap))
	return true
}

// Percent is the GOGC that makes the next collection start when the heap
// reaches minHeap, given the live heap and the stacks and globals the last
// one scanned. The runtime's goal is the larger of live + (live + roots) ×
// GOGC/100 and its heap minimum, 4 MiB × GOGC/100: so GOGC is at most
// minHeap / 4 MiB × 100, whatever the live heap. It is never below Go's
// default of 100.
func Percent(live, roots, minHeap uint64) int {
	p := minHeap * 100 / heapMinimum
	if scanned := live + roots; scanned > 0 {
		p = min(p, (minHeap-min(live, minHeap))*100/scanned)
	}
	return int(max(p, 100))
}
