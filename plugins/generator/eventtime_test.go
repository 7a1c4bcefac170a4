package generator

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// shiftsByClass runs sales_orders with faults (and no duplicates, so records
// and seqs are one to one) and returns, per fault label, how far back each
// record's event time is from the clock time the same seq has without faults
// (faults never change the orders themselves).
func shiftsByClass(t *testing.T, extra string) map[string][]time.Duration {
	t.Helper()
	base := runRecords(t, `sales_orders: { count: 4000, rate: 0, seed: "42" }`, nil)
	faulted := runRecords(t, `
sales_orders:
  count: 4000
  rate: 0
  seed: "42"
  faults: { fora_de_ordem: 0.3, atrasado: 0.3 }
  `+extra, nil)
	require.Len(t, faulted, len(base))
	out := map[string][]time.Duration{}
	for i := range base {
		want, err := order.Decode(base[i].value)
		require.NoError(t, err)
		got, err := order.Decode(faulted[i].value)
		require.NoError(t, err)
		require.Equal(t, want.ID, got.ID, "seq %d is the same order", i+1)
		out[faulted[i].fault] = append(out[faulted[i].fault], want.SoldAt.Time().Sub(got.SoldAt.Time()))
	}
	return out
}

func span(ds []time.Duration) (lo, hi time.Duration) {
	lo, hi = ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func countOver(ds []time.Duration, limit time.Duration) int {
	n := 0
	for _, d := range ds {
		if d > limit {
			n++
		}
	}
	return n
}

func TestEventTimeShifts(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		shifts := shiftsByClass(t, "")
		require.Greater(t, len(shifts["fora_de_ordem"]), 1000)
		require.Greater(t, len(shifts["atrasado"]), 1000)
		lo, hi := span(shifts["fora_de_ordem"])
		assert.GreaterOrEqual(t, lo, time.Minute, "fora_de_ordem: at least 1 minute")
		assert.Less(t, lo, time.Minute+10*time.Second, "fora_de_ordem reaches down to 1 minute")
		assert.LessOrEqual(t, hi, 10*time.Minute-time.Second, "fora_de_ordem: less than 10 minutes")
		assert.Greater(t, hi, 9*time.Minute+50*time.Second, "fora_de_ordem reaches up to 10 minutes")
		lo, hi = span(shifts["atrasado"])
		assert.GreaterOrEqual(t, lo, time.Hour)
		assert.Less(t, lo, time.Hour+2*time.Minute, "atrasado reaches down to 1 hour")
		assert.Less(t, hi, 24*time.Hour)
		assert.Greater(t, hi, 23*time.Hour+58*time.Minute, "atrasado reaches up to 24 hours")
		lo, hi = span(shifts[""])
		assert.Equal(t, [2]time.Duration{0, 0}, [2]time.Duration{lo, hi}, "an unlabelled order keeps its clock time")
	})
	t.Run("disorder_max 30m, late 2h to 3h", func(t *testing.T) {
		shifts := shiftsByClass(t, "event_time: { disorder_max: 30m, late_min: 2h, late_max: 3h }")
		disorder := shifts["fora_de_ordem"]
		require.Greater(t, len(disorder), 1000)
		lo, hi := span(disorder)
		assert.Positive(t, lo)
		assert.LessOrEqual(t, hi, 30*time.Minute)
		assert.Greater(t, hi, 29*time.Minute, "the shifts reach up to disorder_max")
		// Uniform over [1m, 30m): about 20/29 of them beyond 10 minutes.
		assert.Greater(t, countOver(disorder, 10*time.Minute), len(disorder)/2, "many go beyond the 10 minutes of the default")
		for _, d := range disorder {
			require.Zero(t, d%time.Second, "whole seconds: %v", d)
		}
		lo, hi = span(shifts["atrasado"])
		assert.GreaterOrEqual(t, lo, 2*time.Hour)
		assert.Less(t, lo, 2*time.Hour+time.Minute, "atrasado reaches down to late_min")
		assert.LessOrEqual(t, hi, 3*time.Hour)
		assert.Greater(t, hi, 3*time.Hour-time.Minute, "atrasado reaches up to late_max")
		lo, hi = span(shifts[""])
		assert.Equal(t, [2]time.Duration{0, 0}, [2]time.Duration{lo, hi}, "an unlabelled order keeps its clock time")
	})
	t.Run("late_min equal to late_max, tiny disorder", func(t *testing.T) {
		shifts := shiftsByClass(t, "event_time: { disorder_max: 1s, late_min: 90m, late_max: 90m }")
		lo, hi := span(shifts["fora_de_ordem"])
		assert.Equal(t, [2]time.Duration{time.Second, time.Second}, [2]time.Duration{lo, hi})
		lo, hi = span(shifts["atrasado"])
		assert.Equal(t, [2]time.Duration{90 * time.Minute, 90 * time.Minute}, [2]time.Duration{lo, hi})
	})
}

func TestEventTimeRanges(t *testing.T) {
	for _, tc := range []struct {
		e              EventTime
		disorder, late shiftRange
	}{
		{EventTime{}, shiftRange{60, 540}, shiftRange{3600, 23 * 3600}},
		{EventTime{DisorderMax: 30 * time.Minute}, shiftRange{60, 1740}, shiftRange{3600, 23 * 3600}},
		{EventTime{DisorderMax: 5 * time.Minute, LateMin: time.Minute, LateMax: 2 * time.Minute}, shiftRange{30, 270}, shiftRange{60, 60}},
		{EventTime{DisorderMax: 9 * time.Second}, shiftRange{1, 8}, shiftRange{3600, 23 * 3600}},
		{EventTime{DisorderMax: time.Second, LateMin: time.Hour, LateMax: time.Hour}, shiftRange{1, 0}, shiftRange{3600, 0}},
	} {
		d, l := tc.e.ranges()
		assert.Equal(t, tc.disorder, d, "%+v", tc.e)
		assert.Equal(t, tc.late, l, "%+v", tc.e)
	}
	assert.Equal(t, 599*time.Second, shiftRange{60, 540}.draw(539))
	assert.Equal(t, 60*time.Second, shiftRange{60, 540}.draw(540))
	assert.Equal(t, time.Second, shiftRange{1, 0}.draw(12345))
}

func TestEventTimeOptionsAreChecked(t *testing.T) {
	t.Setenv("ORDERS_LATE_MAX", "36m0.5s")
	for yaml, want := range map[string]string{
		`event_time: { disorder_max: 0s }`:                 `event_time.disorder_max must be a positive duration, got 0s`,
		`event_time: { disorder_max: -5m }`:                `event_time.disorder_max must be a positive duration, got -5m0s`,
		`event_time: { disorder_max: dez }`:                `event_time.disorder_max must be a duration such as 30m or 2h, got "dez"`,
		`event_time: { late_min: 1500ms }`:                 `event_time.late_min must be a whole number of seconds (event times are to the second), got 1.5s`,
		`event_time: { late_max: 200h }`:                   `event_time.late_max must be at most 168h0m0s (7 days), got 200h0m0s`,
		`event_time: { late_min: 3h, late_max: 2h }`:       `event_time.late_min (3h0m0s) must not be more than event_time.late_max (2h0m0s)`,
		`event_time: { late_max: 36m0.5s }`:                `event_time.late_max must be a whole number of seconds (event times are to the second), got 36m0.5s (the value of ORDERS_LATE_MAX in the environment)`,
		`event_time: { disorder_max: 169h, late_min: 1s }`: `event_time.disorder_max must be at most 168h0m0s (7 days), got 169h0m0s`,
	} {
		conf, err := Spec().ParseYAML(yaml, nil)
		require.NoError(t, err, yaml)
		_, err = newInputFromConfig(conf, service.MockResources())
		require.Error(t, err, yaml)
		assert.Equal(t, want, err.Error(), yaml)
	}

	opts := testOptions(1)
	opts.EventTime = EventTime{LateMin: 500 * time.Millisecond}
	_, err := New(opts)
	assert.EqualError(t, err, "event_time.late_min must be a whole number of seconds (event times are to the second), got 500ms")
	opts.EventTime = EventTime{LateMin: 25 * time.Hour}
	_, err = New(opts)
	assert.EqualError(t, err, "event_time.late_min (25h0m0s) must not be more than event_time.late_max (24h0m0s)", "against the default late_max")
	opts.EventTime = EventTime{DisorderMax: MaxEventShift, LateMin: time.Second, LateMax: MaxEventShift}
	_, err = New(opts)
	assert.NoError(t, err, "the limits themselves are allowed")
}

func TestEventTimeLint(t *testing.T) {
	for yaml, want := range map[string]string{
		`{ event_time: { disorder_max: 0s } }`:             "event_time.disorder_max must be a positive duration, got 0s (is it set from ORDERS_DISORDER_MAX?)",
		`{ event_time: { late_min: 2.5s } }`:               "event_time.late_min must be a whole number of seconds (event times are to the second), got 2.5s (is it set from ORDERS_LATE_MIN?)",
		`{ event_time: { late_max: 8d } }`:                 `event_time.late_max must be a duration such as 30m or 2h, got "8d" (is it set from ORDERS_LATE_MAX?)`,
		`{ event_time: { late_max: 169h } }`:               "event_time.late_max must be at most 168h0m0s (7 days), got 169h (is it set from ORDERS_LATE_MAX?)",
		`{ event_time: { disorder_max: "abc" } }`:          `event_time.disorder_max must be a duration such as 30m or 2h, got "abc"`,
		`{ event_time: { disorder_max: -1m } }`:            "event_time.disorder_max must be a positive duration, got -1m",
		`{ event_time: { disorder_max: 100ms } }`:          "event_time.disorder_max must be a whole number of seconds",
		`{ event_time: { late_min: 1s, late_max: 168h } }`: "",
	} {
		err := service.NewStreamBuilder().AddInputYAML("sales_orders: " + yaml)
		if want == "" {
			assert.NoError(t, err, yaml)
			continue
		}
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), want, yaml)
	}
}

// TestEventTimeInFingerprint: event_time counts in the expected results'
// gerador only when not the defaults, so files written before it existed
// stay valid, and a restart with other event_time options is refused.
func TestEventTimeInFingerprint(t *testing.T) {
	plain := testYAMLOptions(t, `seed: "5"`)
	explicit := testYAMLOptions(t, `{ seed: "5", event_time: { disorder_max: 10m, late_min: 1h, late_max: 24h } }`)
	assert.Equal(t, Fingerprint(&plain), Fingerprint(&explicit), "the defaults spelled out")
	// Taken before event_time existed: runs from then must still continue.
	assert.Equal(t, "a2fe5992191f697ce56b87d9", Fingerprint(&plain))
	seen := map[string]string{Fingerprint(&plain): "defaults"}
	for _, et := range []string{"{ disorder_max: 30m }", "{ late_min: 2h }", "{ late_max: 2h }", "{ disorder_max: 30m, late_max: 2h }"} {
		o := testYAMLOptions(t, `{ seed: "5", event_time: `+et+` }`)
		fp := Fingerprint(&o)
		if prev, dup := seen[fp]; dup {
			t.Errorf("event_time %s has the gerador of %s", et, prev)
		}
		seen[fp] = et
	}
	viaYAML, err := OptionsFromYAML(`{ seed: "5", event_time: { late_max: 2h } }`)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, viaYAML.EventTime.LateMax, "verify --config reads event_time")

	path := filepath.Join(t.TempDir(), "esperado.json")
	conf := func(count, start int, eventTime string) string {
		return `
  count: ` + itoa(count) + `
  rate: 0
  seed: "5"
  faults: { fora_de_ordem: 0.1, atrasado: 0.1 }
  start_seq: ` + itoa(start) + `
  expected: { path: "` + path + `" }
  ` + eventTime
	}
	runRecords(t, "sales_orders:"+conf(1000, 1, "event_time: { disorder_max: 30m }"), nil)
	e, err := ReadExpectedFile(path)
	require.NoError(t, err)
	require.Equal(t, uint64(1000), e.Last)
	for eventTime, want := range map[string]string{
		"":                                  "was written for seed 5, instance 0 and other options",
		"event_time: { disorder_max: 20m }": "was written for seed 5, instance 0 and other options",
		"event_time: { disorder_max: 30m, late_max: 12h }": "was written for seed 5, instance 0 and other options",
		"event_time: { disorder_max: 30m }":                "",
	} {
		c, err := Spec().ParseYAML(strings.TrimPrefix(conf(2000, 1001, eventTime), "\n"), nil)
		require.NoError(t, err)
		_, err = newInputFromConfig(c, service.MockResources())
		if want == "" {
			assert.NoError(t, err, "the same event_time continues the file")
			continue
		}
		assert.ErrorContains(t, err, want, eventTime)
	}
}

// TestEventTimeSpecDefaults: the spec's defaults are EventTime's.
func TestEventTimeSpecDefaults(t *testing.T) {
	conf, err := Spec().ParseYAML(`{}`, nil)
	require.NoError(t, err)
	e, err := eventTimeFromConfig(conf)
	require.NoError(t, err)
	assert.Equal(t, EventTime{}.withDefaults(), e)
	assert.Equal(t, EventTime{DefaultDisorderMax, DefaultLateMin, DefaultLateMax}, e)
}
