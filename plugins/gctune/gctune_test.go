package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, roots, min uint64
		want             int
	}{
		{0, 0, 64 * mib, 1600},            // no collection yet: 4 MiB × 16 = 64 MiB
		{1, 0, 64 * mib, 1600},            // the runtime's heap minimum caps it
		{2 * mib, 0, 64 * mib, 1600},      // 2 + 2 × 31 = 64, but 4 MiB × 31 > 64 MiB
		{8 * mib, 0, 64 * mib, 700},       // next collection at 8 + 8 × 7 = 64 MiB
		{6 * mib, 2 * mib, 64 * mib, 725}, // 6 + (6 + 2) × 7.25 = 64 MiB
		{16 * mib, 0, 64 * mib, 300},
		{32 * mib, 0, 64 * mib, 100}, // twice the live heap is the minimum already
		{30 * mib, 6 * mib, 64 * mib, 100},
		{500 * mib, 0, 64 * mib, 100},
		{0, 0, 1 * mib, 100}, // a minimum below the runtime's own
	} {
		assert.Equal(t, c.want, Percent(c.live, c.roots, c.min), "live %d roots %d min %d", c.live, c.roots, c.min)
	}
}

// The heap goal the runtime derives from what Start sets stays at the
// minimum while the live heap is small: the goal, not only GOGC.
func TestHeapGoalStaysAtTheMinimum(t *testing.T) {
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Setenv(k, "")
	}
	stop := Start(DefaultMinHeap)
	defer stop()
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		metrics.Read(goal)
		g := goal[0].Value.Uint64()
		assert.LessOrEqual(t, g, uint64(DefaultMinHeap)*11/10, "heap goal %d MiB", g>>20)
		assert.GreaterOrEqual(t, g, uint64(DefaultMinHeap)*8/10, "heap goal %d MiB", g>>20)
	}
}

// gcPercent reads GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// collect runs collections until cond holds (the finalizer runs shortly
// after each one), or fails after a few seconds.
func collect(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 100 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if cond() {
			return
		}
	}
	t.Fatalf("%s: GOGC is %d", what, gcPercent())
}

// After every collection GOGC follows the live heap; stop puts Go's default
// back.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Setenv(k, "") // empty means Go's default, and the tuner runs
	}
	require.Empty(t, Disabled())
	stop := Start(DefaultMinHeap)
	defer debug.SetGCPercent(100)

	collect(t, "a test binary's heap is far below the minimum: GOGC must be raised", func() bool { return gcPercent() > 100 })
	big := make([]byte, 48<<20)
	for i := range big {
		big[i] = 1
	}
	collect(t, "48 MiB live: the default", func() bool { return gcPercent() == 100 })
	runtime.KeepAlive(big)
	big = nil
	collect(t, "the heap shrank again: GOGC raised again", func() bool { return gcPercent() > 100 })

	stop()
	assert.Equal(t, 100, gcPercent(), "stop restores the default")
	collect(t, "stopped: stays at the default", func() bool { return gcPercent() == 100 })
}

func TestDisabledByGoSettings(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	assert.Equal(t, "GOMEMLIMIT is set", Disabled())
	before := debug.SetGCPercent(123)
	defer debug.SetGCPercent(before)
	stop := Start(DefaultMinHeap)
	defer stop()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 123, debug.SetGCPercent(123), "GOGC left alone")
}
