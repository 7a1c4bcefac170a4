package aggregate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/window"
)

// String names the windows a state was counted with: size/slide.
func (c windowConf) String() string {
	return c.spec.Size.String() + "/" + c.spec.Slide.String()
}

// windowConfFrom reads the window fields; nil when window is empty.
func windowConfFrom(conf *service.ParsedConfig) (*windowConf, error) {
	str := func(f string) (string, error) { return conf.FieldString(f) }
	size, err := str(fieldWindow)
	if err != nil {
		return nil, err
	}
	dedupe, err := conf.FieldBool(fieldDedupe)
	if err != nil {
		return nil, err
	}
	durs := map[string]time.Duration{}
	for _, f := range []string{fieldWindow, fieldSlide, fieldLateness, fieldIdle, fieldRetention, fieldMaxFuture} {
		v, err := str(f)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		d, err := parseDays(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("field %s: %q is negative", f, v)
		}
		durs[f] = d
	}
	if size == "" {
		if v, _ := str(fieldSlide); v != "" {
			return nil, fmt.Errorf("field %s is set to %q but field %s is empty: set the window size too", fieldSlide, v, fieldWindow)
		}
		if dedupe {
			return nil, fmt.Errorf("field %s needs field %s: the watermark of the windows bounds how long an id_ordem is remembered", fieldDedupe, fieldWindow)
		}
		return nil, nil
	}
	spec, err := window.Parse(durs[fieldWindow], durs[fieldSlide])
	if err != nil {
		return nil, err
	}
	maxSlots, err := conf.FieldInt(fieldMaxSlots)
	if err != nil {
		return nil, err
	}
	if maxSlots < 1 || maxSlots > maxWindowSlots {
		return nil, fmt.Errorf("field %s: %d is not from 1 to %d (a partition's windows must fit in one record of the state topic)", fieldMaxSlots, maxSlots, maxWindowSlots)
	}
	c := &windowConf{spec: spec, idle: durs[fieldIdle], dedupe: dedupe, maxSlots: maxSlots}
	for _, f := range []string{fieldLateness, fieldRetention, fieldMaxFuture} {
		if d := durs[f]; d%time.Second != 0 {
			return nil, fmt.Errorf("field %s: %v is not a whole number of seconds (event times are to the second)", f, d)
		}
	}
	c.lateness = int64(durs[fieldLateness] / time.Second)
	c.retention = int64(durs[fieldRetention] / time.Second)
	c.maxFuture = int64(durs[fieldMaxFuture] / time.Second)
	if c.retention < c.lateness {
		return nil, fmt.Errorf("field %s: %v is shorter than field %s (%v): windows would be evicted before late orders may still arrive", fieldRetention, durs[fieldRetention], fieldLateness, durs[fieldLateness])
	}
	return c, nil
}

// parseDays is time.ParseDuration that also takes whole days: "7d".
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 32)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a duration (such as 90s, 10m, 1h30m or 7d)", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (such as 90s, 10m, 1h30m or 7d)", s)
	}
	return d, nil
}

// checkWindowSpec refuses a stored state counted with other windows than
// this buffer's: read on, its windows would be wrong without a word.
func (b *salesAggregate) checkWindowSpec(s *partitionState) error {
	want := ""
	if b.win != nil {
		want = b.win.conf.String()
	}
	if s.WindowSpec == want {
		return nil
	}
	reset := fmt.Sprintf("set the same windows again, or use another state_topic, or start afresh with: vendas-connect reset-state --brokers <brokers> --state-topic %s", b.stateTopic)
	switch {
	case want == "":
		return fmt.Errorf("the state of topic %s partition %d in %s holds windows of %s, but this sales_aggregate has no field %s: counted on, they would be dropped; %s",
			s.Topic, s.Partition, b.stateTopic, s.WindowSpec, fieldWindow, reset)
	case s.WindowSpec == "" && s.Orders == 0 && s.Rejected == 0:
		return nil // nothing counted yet
	case s.WindowSpec == "":
		return fmt.Errorf("the state of topic %s partition %d in %s was counted without windows up to offset %d: windows of %s would miss the orders before it; %s",
			s.Topic, s.Partition, b.stateTopic, s.Next, want, reset)
	}
	return fmt.Errorf("the state of topic %s partition %d in %s holds windows of %s (size/slide), but field %s asks for %s; %s",
		s.Topic, s.Partition, b.stateTopic, s.WindowSpec, fieldWindow, want, reset)
}
