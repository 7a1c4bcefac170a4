package aggregate

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkDedupeMemoryPerID measures what dedupe costs per id remembered:
// the heap a set of 1 000 000 ids holds, divided by their number (the map
// entry and the queue entry, with their slack). README, Windows.
func BenchmarkDedupeMemoryPerID(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 1))
	hashes := make([]uint64, n)
	for i := range hashes {
		hashes[i] = rng.Uint64()
	}
	var perID float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := newDedupeSet()
		for i, h := range hashes {
			d.remember(h, int64(i), int64(i), noTime)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perID = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(d)
	}
	b.ReportMetric(perID, "B/id")
}

// TestDedupeForgetsPastTheHorizon: ids are forgotten once the watermark
// passes their expiry plus the lateness, and the memory of the queue goes.
func TestDedupeForgetsPastTheHorizon(t *testing.T) {
	d := newDedupeSet()
	for i := range int64(5000) {
		d.remember(uint64(i), i, 1000+i, noTime)
	}
	if !d.seen(7, 1500, 600) || d.seen(7, 1608, 600) {
		t.Fatalf("id 7 (expiry 1007, lateness 600) must be seen at watermark 1500 and not at 1608")
	}
	d.forget(1000+3000+600+1, 600) // expiries below 3001 are past
	if got := d.Len(); got != 5000-3001 {
		t.Fatalf("after forget: %d ids remembered, want %d", got, 5000-3001)
	}
	if got, _ := d.from(9999, noTime); got != 3001 {
		t.Fatalf("the oldest id remembered is at offset %d, want 3001", got)
	}
	if len(d.queue) != 5000-3001 || d.head != 0 {
		t.Fatalf("the queue was not compacted: len %d, head %d", len(d.queue), d.head)
	}
	if d.seen(5, 4601, 600) || !d.seen(4000, 4601, 600) {
		t.Fatalf("forgotten id 5 is not seen, remembered id 4000 is")
	}
}
