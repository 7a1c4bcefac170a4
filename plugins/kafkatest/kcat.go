package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Record is one record as kcat read it.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
}

// Kcat reads every record of topic with kcat, a client independent of ours
// (librdkafka). It skips when kcat is missing, or fails under RequireEnv.
func Kcat(t testing.TB, brokers, topic string) []Record {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		SkipOrFail(t, "kcat is not installed (apt-get install kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Lengths first, so keys and values can hold any bytes, newlines too.
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", brokers, "-t", topic, "-e", "-q",
		"-f", "%p %o %K %S %k%s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kcat: %s", stderr.String())
	recs, err := parseKcat(out)
	require.NoError(t, err)
	return recs
}

func parseKcat(out []byte) ([]Record, error) {
	var recs []Record
	for len(out) > 0 {
		var r Record
		var klen, vlen int
		nl := bytes.IndexByte(out, ' ')
		n, err := fmt.Sscanf(string(out[:min(len(out), 64)]), "%d %d %d %d ", &r.Partition, &r.Offset, &klen, &vlen)
		if err != nil || n != 4 || nl < 0 {
			return nil, fmt.Errorf("kcat output: bad record header near %q", out[:min(len(out), 64)])
		}
		head := fmt.Sprintf("%d %d %d %d ", r.Partition, r.Offset, klen, vlen)
		out = out[len(head):]
		klen, vlen = max(klen, 0), max(vlen, 0) // -1 is a null key or value
		if len(out) < klen+vlen+1 {
			return nil, fmt.Errorf("kcat output: record %d/%d truncated", r.Partition, r.Offset)
		}
		r.Key, r.Value = out[:klen], out[klen:klen+vlen]
		out = out[klen+vlen+1:]
		recs = append(recs, r)
	}
	return recs, nil
}
