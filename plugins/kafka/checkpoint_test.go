package kafka

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckpointer(t *testing.T) {
	type step struct {
		release      int // index of the tracked batch to acknowledge
		wantReleased int // value expected to become committable, -1 for none
		wantPending  int64
	}
	tests := []struct {
		name  string
		sizes []int64 // batch sizes; batch i is tracked with value i
		steps []step
	}{
		{
			name:  "in order",
			sizes: []int64{1, 1, 1},
			steps: []step{{0, 0, 2}, {1, 1, 1}, {2, 2, 0}},
		},
		{
			name:  "out of order waits for the oldest",
			sizes: []int64{1, 2, 3},
			steps: []step{{2, -1, 3}, {1, -1, 1}, {0, 2, 0}},
		},
		{
			name:  "gap in the middle",
			sizes: []int64{1, 1, 1, 1},
			steps: []step{{0, 0, 3}, {2, -1, 2}, {3, -1, 1}, {1, 3, 0}},
		},
		{
			name:  "double release is ignored",
			sizes: []int64{5, 5},
			steps: []step{{1, -1, 5}, {1, -1, 5}, {0, 1, 0}, {0, -1, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c checkpointer[int]
			releases := make([]func() (int, bool), len(tc.sizes))
			var total int64
			for i, n := range tc.sizes {
				releases[i] = c.Track(i, n)
				total += n
			}
			assert.Equal(t, total, c.Pending())
			for _, s := range tc.steps {
				got, ok := releases[s.release]()
				if s.wantReleased < 0 {
					assert.False(t, ok, "release %d must not move the checkpoint", s.release)
				} else {
					assert.True(t, ok, "release %d must move the checkpoint", s.release)
					assert.Equal(t, s.wantReleased, got)
				}
				assert.Equal(t, s.wantPending, c.Pending())
			}
		})
	}
}

func TestCheckpointerTrackAfterRelease(t *testing.T) {
	var c checkpointer[int]
	r0 := c.Track(10, 1)
	got, ok := r0()
	assert.True(t, ok)
	assert.Equal(t, 10, got)

	r1 := c.Track(11, 1)
	r2 := c.Track(12, 1)
	_, ok = r2()
	assert.False(t, ok)
	got, ok = r1()
	assert.True(t, ok)
	assert.Equal(t, 12, got)
	assert.Empty(t, c.queue, "released entries must not be retained")
}
