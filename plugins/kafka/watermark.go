package kafka

import "sync"

// HighWatermarks are the high watermarks the input saw in its last fetch of
// each partition: the offset the partition's next record will get. With the
// next offset a consumer counts, they give its lag.
type HighWatermarks struct {
	mu sync.Mutex
	m  map[watermarkKey]int64
}

type watermarkKey struct {
	topic     string
	partition int32
}

// Set records a partition's high watermark, as a fetch reported it.
func (h *HighWatermarks) Set(topic string, partition int32, hw int64) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[watermarkKey]int64{}
	}
	h.m[watermarkKey{topic, partition}] = hw
	h.mu.Unlock()
}

// Get returns a partition's high watermark as last fetched, false when no
// fetch of it was seen.
func (h *HighWatermarks) Get(topic string, partition int32) (int64, bool) {
	if h == nil {
		return 0, false
	}
	h.mu.Lock()
	hw, ok := h.m[watermarkKey{topic, partition}]
	h.mu.Unlock()
	return hw, ok
}
