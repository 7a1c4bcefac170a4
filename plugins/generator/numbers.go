package generator

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// The number fields of sales_orders are declared as "any", not int or float:
// Benthos skips every lint rule of a component when one of its typed fields
// does not decode (count: abc into an int), so `vendas-connect lint` passed a
// count or rate made of text, usually from an environment variable such as
// ORDERS_COUNT=abc. As "any", each field's own rule sees the text and names it,
// and the constructor reads it with the same rules (numberFromConfig).

// numRange is what a number field accepts.
type numRange struct {
	integer bool
	min     float64
	minOpen bool // greater than min, not equal
	max     float64
	hasMax  bool
	// what the value must be, in the messages: "0 (no end) or more".
	what string
	// env is the variable the shipped configs set the field from, named in
	// the lint message (lint cannot read the environment: see envHint).
	env string
}

// numRanges are the accepted values of each number field, by path.
var numRanges = map[string]numRange{
	fieldCount:                         {integer: true, what: "0 (no end) or more", env: "ORDERS_COUNT"},
	fieldRate:                          {what: "0 (as fast as possible) or a positive number of orders per second", env: "ORDERS_RATE"},
	fieldBatchSize:                     {integer: true, what: "0 (chosen from the rate) or more"},
	fieldCustomers:                     {integer: true, what: "0 or more"},
	fieldMaxItems:                      {integer: true, min: 1, what: "at least 1"},
	fieldMaxQuantity:                   {integer: true, min: 1, max: order.MaxQuantity, hasMax: true, what: fmt.Sprintf("from 1 to %d", order.MaxQuantity)},
	fieldPopularitySkew:                {what: "0 or more"},
	fieldBasketDecay:                   {minOpen: true, max: 1, hasMax: true, what: "in (0, 1]"},
	fieldQuantityDecay:                 {minOpen: true, max: 1, hasMax: true, what: "in (0, 1]"},
	fieldClock + "." + fieldClockSpeed: {minOpen: true, what: "greater than 0"},
	fieldClock + "." + fieldClockRate:  {minOpen: true, what: "greater than 0"},
	fieldInstance:                      {integer: true, max: MaxInstance, hasMax: true, what: fmt.Sprintf("from 0 to %d", MaxInstance), env: "ORDERS_INSTANCE"},
	fieldStartSeq:                      {integer: true, min: 1, what: "1 or more", env: "ORDERS_START_SEQ"},
	fieldFaultRate:                     {max: 1, hasMax: true, what: "from 0 to 1", env: "ORDERS_FAULT_RATE"},
}

// numField declares the number field at path (its last element is the name)
// with a lint rule enforcing numRanges[path].
func numField(path string) *service.ConfigField {
	r, ok := numRanges[path]
	if !ok {
		panic("no range for number field " + path)
	}
	name := path[strings.LastIndex(path, ".")+1:]
	return service.NewAnyField(name).LintRule(r.lintRule(path))
}

func (r numRange) kind() string {
	if r.integer {
		return "a whole number"
	}
	return "a number"
}

// lintRule is the Bloblang rule of the field at path: a number (or text
// holding one) in range. Text that is a number is accepted, as at run time:
// `--set input.sales_orders.count=100` gives the text "100".
func (r numRange) lintRule(path string) string {
	hint := ""
	if r.env != "" {
		hint = fmt.Sprintf(" (is it set from %s?)", r.env)
	}
	var bad []string
	if r.minOpen {
		bad = append(bad, "$n <= "+formatNum(r.min))
	} else {
		bad = append(bad, "$n < "+formatNum(r.min))
	}
	if r.hasMax {
		bad = append(bad, "$n > "+formatNum(r.max))
	}
	whole := "false"
	if r.integer {
		whole = `!$n.string().re_match("^-?[0-9]+$")`
	}
	return fmt.Sprintf(`let shown = if this.type() == "string" { "\"" + this + "\"" } else { this.string() }
let n = if this.type() == "number" { this } else if this.type() == "string" { this.trim().number().catch(null) } else { null }
root = match {
  $n == null => [ "%[1]s must be %[2]s, %[3]s, got %%s%[4]s".format($shown) ]
  %[5]s => [ "%[1]s must be %[2]s, %[3]s, got %%s%[4]s".format($shown) ]
  %[6]s => [ "%[1]s must be %[3]s, got %%s%[4]s".format($shown) ]
}`, path, r.kind(), r.what, hint, whole, strings.Join(bad, " || "))
}

func formatNum(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// numberFromConfig reads the number field at path with the rules of its lint
// rule. A wrong value's error names the field, the value, what is allowed
// and, when the value is that of an environment variable, the variable.
func numberFromConfig(conf *service.ParsedConfig, path ...string) (float64, error) {
	key := strings.Join(path, ".")
	r := numRanges[key]
	raw, err := conf.FieldAny(path...)
	if err != nil {
		return 0, err
	}
	var n float64
	ok := true
	switch v := raw.(type) {
	case int:
		n = float64(v)
	case int64:
		n = float64(v)
	case uint64:
		n = float64(v)
	case float64:
		n = v
	case string:
		n, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
		ok = err == nil
	default:
		ok = false
	}
	shown := fmt.Sprint(raw)
	if s, isText := raw.(string); isText {
		shown = strconv.Quote(s)
	} else if raw == nil {
		shown = "nothing"
	}
	switch {
	case !ok || math.IsNaN(n) || math.IsInf(n, 0) || (r.integer && n != math.Trunc(n)):
		return 0, fmt.Errorf("%s must be %s, %s, got %s%s", key, r.kind(), r.what, shown, envHint(raw))
	case n < r.min || (r.minOpen && n == r.min) || (r.hasMax && n > r.max):
		return 0, fmt.Errorf("%s must be %s, got %s%s", key, r.what, shown, envHint(raw))
	}
	return n, nil
}

// intFromConfig is numberFromConfig for a whole-number field.
func intFromConfig(conf *service.ParsedConfig, path ...string) (int, error) {
	n, err := numberFromConfig(conf, path...)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("%s must be at most %d, got %v", strings.Join(path, "."), math.MaxInt32, n)
	}
	return int(n), nil
}

// envHint names the environment variables that hold raw, since Benthos
// replaces ${VAR} in the config before any component sees it: the value is
// all that is left, so the variable is found by its value. Only text values
// are looked up (a number is rarely wrong), and only variables whose name
// looks like a setting (upper case).
func envHint(raw any) string {
	s, ok := raw.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return ""
	}
	var names []string
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if value == s && name == strings.ToUpper(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return fmt.Sprintf(" (the value of %s in the environment)", strings.Join(names, ", "))
}

// durationLint is the rule of the event_time duration at path, set from the
// variable env in produce.yaml: the checks of checkShift, as Bloblang.
func durationLint(path, env string) string {
	return fmt.Sprintf(`let d = if this.type() == "string" { this.trim().parse_duration().catch(null) } else { null }
root = match {
  $d == null => [ "%[1]s must be a duration such as 30m or 2h, got %%s (is it set from %[2]s?)".format(this.format_json()) ]
  $d <= 0 => [ "%[1]s must be a positive duration, got %%s (is it set from %[2]s?)".format(this) ]
  $d %% 1000000000 != 0 => [ "%[1]s must be a whole number of seconds (event times are to the second), got %%s (is it set from %[2]s?)".format(this) ]
  $d > %[3]d => [ "%[1]s must be at most %[4]v (7 days), got %%s (is it set from %[2]s?)".format(this) ]
}`, path, env, int64(MaxEventShift), MaxEventShift)
}

// Lint rules of the text fields.
const (
	seedLint = `root = if this.type() == "string" && this.trim() != "" && !this.trim().re_match("^-?[0-9]+$") {
  [ "seed must be an integer or empty (random), got %q (is it set from ORDERS_SEED?)".format(this) ]
}`
	clockStartLint = `root = if this.type() == "string" && this != "" && this.ts_parse("2006-01-02T15:04:05Z07:00").catch(null) == null {
  [ "clock.start must be an RFC 3339 time such as 2026-11-24T00:00:00-03:00, got %q".format(this) ]
}`
	// priceLint mirrors parsePrice: a decimal number (or text holding one)
	// greater than 0, with at most two decimals.
	priceLint = `let text = this.string().trim()
root = match {
  this.type() == "null" => [ "preco is missing" ]
  !$text.re_match("^[0-9]+(\\.[0-9]+)?$") => [ "preco must be a price in BRL such as 59.90, got %s".format($text) ]
  $text.re_match("\\.[0-9]{3,}$") => [ "preco %s has more than two decimals".format($text) ]
  $text.number() <= 0 => [ "preco must be greater than 0, got %s".format($text) ]
}`
)
