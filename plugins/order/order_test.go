package order

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const validOrder = `{"id_ordem":"a1","documento_cliente":"529.982.247-25","produtos":[{"nome":"Notebook Dell Inspiron 15","quantidade":2,"preco_unitario":3499.90},{"nome":"Mouse \"Gamer\"","quantidade":1,"preco_unitario":0.1}],"valor_total":6999.90,"data_hora_venda":"24/11/2026 18:03:59"}`

func TestDecodeValid(t *testing.T) {
	o, err := Decode([]byte(validOrder))
	require.NoError(t, err)
	assert.Equal(t, "a1", o.ID)
	assert.Equal(t, "529.982.247-25", o.Customer)
	require.Len(t, o.Items, 2)
	assert.Equal(t, Item{Name: "Notebook Dell Inspiron 15", Quantity: 2, UnitPrice: 349990}, o.Items[0])
	assert.Equal(t, Item{Name: `Mouse "Gamer"`, Quantity: 1, UnitPrice: 10}, o.Items[1])
	assert.Equal(t, Cents(699990), o.Total)
	assert.Equal(t, LocalTime{2026, 11, 24, 18, 3, 59}, o.SoldAt)
}

func TestRoundTrip(t *testing.T) {
	in := Order{
		ID:       "3f2a",
		Customer: "111.444.777-35",
		Items: []Item{
			{Name: "Café \\ Torrado", Quantity: 3, UnitPrice: 2990},
			{Name: "Smart TV 55\" 4K", Quantity: 1, UnitPrice: 299999},
		},
		SoldAt: LocalTime{2024, 2, 29, 0, 0, 1},
	}
	in.Total = in.ItemsTotal()
	b := in.AppendJSON(nil)
	require.True(t, json.Valid(b), string(b))

	out, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, in, *out)
	// encoding/json must read the same numbers we meant.
	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	assert.InDelta(t, 3089.69, generic["valor_total"], 1e-9)
	assert.Equal(t, string(b), string(out.AppendJSON(nil)))
}

func TestDecodeErrors(t *testing.T) {
	items := `[{"nome":"X","quantidade":2,"preco_unitario":10.00}]`
	mk := func(id, cpf, prods, total, date string) string {
		return `{"id_ordem":` + id + `,"documento_cliente":` + cpf + `,"produtos":` + prods + `,"valor_total":` + total + `,"data_hora_venda":` + date + `}`
	}
	okID, okCPF, okTotal, okDate := `"x"`, `"529.982.247-25"`, `20.00`, `"01/01/2026 10:00:00"`
	cases := []struct {
		name, in, want string
	}{
		{"not json", `hello`, "invalid JSON at byte 0"},
		{"empty", ``, "empty record"},
		{"array", `[1]`, "expected a JSON object, got an array"},
		{"truncated", validOrder[:40], "invalid JSON"},
		{"trailing", validOrder + `x`, "unexpected data after the order"},
		{"missing id", `{"documento_cliente":"529.982.247-25","produtos":` + items + `,"valor_total":20,"data_hora_venda":"01/01/2026 10:00:00"}`, "id_ordem: missing"},
		{"missing products", `{"id_ordem":"x","documento_cliente":"529.982.247-25","valor_total":20,"data_hora_venda":"01/01/2026 10:00:00"}`, "produtos: missing"},
		{"duplicate field", `{"id_ordem":"x","id_ordem":"y"}`, "id_ordem: appears twice"},
		{"id number", mk(`7`, okCPF, items, okTotal, okDate), "id_ordem: expected a string, got a number"},
		{"id empty", mk(`""`, okCPF, items, okTotal, okDate), "id_ordem: empty string"},
		{"cpf digits", mk(okID, `"529.982.247-26"`, items, okTotal, okDate), `documento_cliente: invalid CPF "***.982.247-**": check digits do not match`},
		{"cpf format", mk(okID, `"52998224725"`, items, okTotal, okDate), `documento_cliente: invalid CPF, 11 characters shaped "###########": not formatted 000.000.000-00`},
		{"cpf repeated", mk(okID, `"111.111.111-11"`, items, okTotal, okDate), "all eleven digits are equal"},
		{"cpf null", mk(okID, `null`, items, okTotal, okDate), "documento_cliente: expected a string, got null"},
		{"products object", mk(okID, okCPF, `{}`, okTotal, okDate), "produtos: expected an array of products, got an object"},
		{"products empty", mk(okID, okCPF, `[]`, `0`, okDate), "produtos: empty"},
		{"item not object", mk(okID, okCPF, `[1]`, okTotal, okDate), "produtos[0]: expected an object, got a number"},
		{"name missing", mk(okID, okCPF, `[{"quantidade":2,"preco_unitario":10}]`, okTotal, okDate), "produtos[0].nome: missing"},
		{"name number", mk(okID, okCPF, `[{"nome":1,"quantidade":2,"preco_unitario":10}]`, okTotal, okDate), "produtos[0].nome: expected a string, got a number"},
		{"name empty", mk(okID, okCPF, `[{"nome":"","quantidade":2,"preco_unitario":10}]`, okTotal, okDate), "produtos[0].nome: empty string"},
		{"quantity zero", mk(okID, okCPF, `[{"nome":"X","quantidade":0,"preco_unitario":10}]`, `0`, okDate), "produtos[0].quantidade: must be an integer from 1 to 1000000, got 0"},
		{"quantity fraction", mk(okID, okCPF, `[{"nome":"X","quantidade":1.5,"preco_unitario":10}]`, okTotal, okDate), "produtos[0].quantidade: expected an integer, got 1.5"},
		{"quantity string", mk(okID, okCPF, `[{"nome":"X","quantidade":"2","preco_unitario":10}]`, okTotal, okDate), "produtos[0].quantidade: expected a number, got a string"},
		{"price zero", mk(okID, okCPF, `[{"nome":"X","quantidade":2,"preco_unitario":0}]`, `0`, okDate), "produtos[0].preco_unitario: must be greater than 0"},
		{"price negative", mk(okID, okCPF, `[{"nome":"X","quantidade":2,"preco_unitario":-1.00}]`, okTotal, okDate), "produtos[0].preco_unitario: must be greater than 0"},
		{"price three decimals", mk(okID, okCPF, `[{"nome":"X","quantidade":2,"preco_unitario":10.001}]`, okTotal, okDate), "produtos[0].preco_unitario: 10.001: more than two decimals"},
		{"price exponent", mk(okID, okCPF, `[{"nome":"X","quantidade":2,"preco_unitario":1e1}]`, okTotal, okDate), "produtos[0].preco_unitario: 1e1: not a plain decimal number"},
		{"item duplicate", mk(okID, okCPF, `[{"nome":"X","nome":"Y"}]`, okTotal, okDate), "produtos[0].nome: appears twice"},
		{"second item", mk(okID, okCPF, `[{"nome":"X","quantidade":2,"preco_unitario":10},{"nome":"Y","quantidade":-3,"preco_unitario":10}]`, okTotal, okDate), "produtos[1].quantidade: must be an integer from 1"},
		{"total mismatch", mk(okID, okCPF, items, `20.01`, okDate), "valor_total: is 20.01 but the products sum to 20.00"},
		{"total string", mk(okID, okCPF, items, `"20.00"`, okDate), "valor_total: expected a number, got a string"},
		{"date format", mk(okID, okCPF, items, okTotal, `"2026-01-01T10:00:00"`), `data_hora_venda: "2026-01-01T10:00:00": not a date-time DD/MM/YYYY HH:MM:SS`},
		{"date range", mk(okID, okCPF, items, okTotal, `"30/02/2026 10:00:00"`), "data_hora_venda: \"30/02/2026 10:00:00\": no such date or time"},
		{"hour range", mk(okID, okCPF, items, okTotal, `"01/01/2026 24:00:00"`), "no such date or time"},
		{"bad escape", mk(`"a\q"`, okCPF, items, okTotal, okDate), "bad escape in string"},
		{"bad utf8", mk("\"a\xff\"", okCPF, items, okTotal, okDate), "not valid UTF-8"},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(tc.in), &o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDecodeSkipsUnknownFields(t *testing.T) {
	in := strings.Replace(validOrder, `{"id_ordem"`, `{"canal":{"tipo":["app",1,true,null,-2.5e3]},"id_ordem"`, 1)
	in = strings.Replace(in, `"quantidade":2,`, `"quantidade":2,"sku":"N-15",`, 1)
	o, err := Decode([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, Cents(699990), o.Total)
}

func TestDecodeEscapes(t *testing.T) {
	in := strings.Replace(validOrder, `"Notebook Dell Inspiron 15"`, `"Caf\u00e9 \ud83d\ude00 \/ \\ \""`, 1)
	o, err := Decode([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, `Café 😀 / \ "`, o.Items[0].Name)
}

func TestParseCents(t *testing.T) {
	cases := []struct {
		in   string
		want Cents
		err  bool
	}{
		{"0", 0, false}, {"12", 1200, false}, {"12.5", 1250, false}, {"12.50", 1250, false},
		{"12.500", 1250, false}, {"0.01", 1, false}, {"-3.10", -310, false},
		{"12.501", 0, true}, {"01", 0, true}, {".5", 0, true}, {"5.", 0, true}, {"1e2", 0, true},
		{"", 0, true}, {"-", 0, true}, {"99999999999999999999", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseCents([]byte(tc.in))
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c)
		})
	}
}

func TestCentsFormat(t *testing.T) {
	assert.Equal(t, "3499.90", Cents(349990).String())
	assert.Equal(t, "0.05", Cents(5).String())
	assert.Equal(t, "-1.00", Cents(-100).String())
	assert.Equal(t, "R$ 1.234,56", Cents(123456).BRL())
	assert.Equal(t, "R$ 0,07", Cents(7).BRL())
	assert.Equal(t, "R$ 123,00", Cents(12300).BRL())
	assert.Equal(t, "R$ 1.441.958,80", Cents(144195880).BRL())
	assert.Equal(t, "-R$ 1.000,00", Cents(-100000).BRL())
}

func TestCPF(t *testing.T) {
	// Known valid CPFs (published examples) and their invalid neighbours.
	for _, s := range []string{"529.982.247-25", "111.444.777-35", "123.456.789-09"} {
		assert.NoError(t, ValidateCPF([]byte(s)), s)
		b := []byte(s)
		b[13] = '0' + (b[13]-'0'+1)%10
		assert.Error(t, ValidateCPF(b), string(b))
	}
	base := [9]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}
	assert.Equal(t, "123.456.789-09", string(AppendCPF(nil, &base)))
}

func TestLocalTime(t *testing.T) {
	instant := time.Date(2026, 11, 24, 21, 3, 59, 0, time.UTC) // São Paulo is UTC-3
	lt := LocalTimeOf(instant)
	assert.Equal(t, "24/11/2026 18:03:59", lt.String())
	assert.True(t, lt.Time().Equal(instant))
	p, err := ParseLocalTime([]byte("29/02/2028 23:59:59"))
	require.NoError(t, err)
	assert.Equal(t, "29/02/2028 23:59:59", p.String())
	_, err = ParseLocalTime([]byte("29/02/2027 23:59:59"))
	assert.Error(t, err)
}

func TestPlainString(t *testing.T) {
	cases := map[string]bool{
		"": true, "abc": true, "Notebook Dell Inspiron 15": true, "Café Pilão 500g 12345678": true,
		`Smart TV 55" 4K`: false, "a\\b": false, "tab\there and more text": false, "\x7f12345678": true,
		"12345678\x01": false, "bad \xff utf8 here": false, "ü": true, "0123456789abcdef\"": false,
	}
	for s, want := range cases {
		assert.Equal(t, want, plainString(s), "%q", s)
		// The fast check must agree with escaping byte by byte.
		want2 := true
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
				want2 = false
			}
		}
		want2 = want2 && utf8.ValidString(s)
		assert.Equal(t, want2, plainString(s), "%q", s)
	}
}

func TestSkipIdentity(t *testing.T) {
	d := NewDecoder()
	d.SkipIdentity = true
	var o Order
	require.NoError(t, d.Decode([]byte(validOrder), &o))
	assert.Empty(t, o.ID)
	assert.Empty(t, o.Customer)
	assert.Equal(t, Cents(699990), o.Total)
	// Still validated.
	bad := strings.Replace(validOrder, "529.982.247-25", "529.982.247-26", 1)
	assert.ErrorContains(t, d.Decode([]byte(bad), &o), "documento_cliente: invalid CPF")
}

// A reason quotes at most 64 bytes of the input, so a hostile record cannot
// turn its rejection into a flood of log or metadata.
func TestDecodeReasonsAreShort(t *testing.T) {
	mk := func(prods, total, date string) string {
		return `{"id_ordem":"x","documento_cliente":"529.982.247-25","produtos":` + prods + `,"valor_total":` + total + `,"data_hora_venda":` + date + `}`
	}
	okDate := `"01/01/2026 10:00:00"`
	huge := "1" + strings.Repeat("0", 600<<10)
	item := func(q, p string) string { return `[{"nome":"X","quantidade":` + q + `,"preco_unitario":` + p + `}]` }
	cases := []struct {
		name, in, want string
	}{
		{"huge price", mk(item("1", huge), "1", okDate), "produtos[0].preco_unitario: " + huge[:64] + "…: amount too large"},
		{"long decimals", mk(item("1", "1."+strings.Repeat("0", 600<<10)+"1"), "1", okDate), "produtos[0].preco_unitario: 1." + strings.Repeat("0", 62) + "…: more than two decimals"},
		{"huge total", mk(item("1", "1"), huge, okDate), "valor_total: " + huge[:64] + "…: amount too large"},
		{"huge quantity", mk(item(huge+".5", "1"), "1", okDate), "produtos[0].quantidade: expected an integer, got " + huge[:64] + "…"},
		{"long date", mk(item("1", "1"), "1", `"`+strings.Repeat("9", 600<<10)+`"`), `data_hora_venda: "` + strings.Repeat("9", 64) + `"…: not a date-time`},
		// The cut backs up to a character boundary: 63 bytes, not half an é.
		{"cut in a character", mk(item("1", "1"), "1", `"x`+strings.Repeat("é", 100)+`"`), `data_hora_venda: "x` + strings.Repeat("é", 31) + `"…: not a date-time`},
		{"short stays whole", mk(item("1", "1"), "1", `"01/13/2026 10:00:00"`), `data_hora_venda: "01/13/2026 10:00:00": no such date or time`},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(tc.in), &o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, len(err.Error()), 200)
			assert.True(t, utf8.ValidString(err.Error()))
		})
	}
}

func TestDecodeNameLength(t *testing.T) {
	mk := func(name string) string {
		return `{"id_ordem":"x","documento_cliente":"529.982.247-25","produtos":[{"nome":"` + name + `","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"01/01/2026 10:00:00"}`
	}
	cases := []struct {
		name, in, want string // want is empty when the name is accepted
	}{
		{"200 ascii", strings.Repeat("a", 200), ""},
		{"200 two-byte", strings.Repeat("é", 200), ""},
		{"200 four-byte", strings.Repeat("😀", 200), ""},
		{"200 escaped", strings.Repeat(`\u00e9`, 200), ""},
		{"201 ascii", strings.Repeat("a", 201), "produtos[0].nome: has 201 characters, the limit is 200"},
		{"201 two-byte", strings.Repeat("é", 201), "produtos[0].nome: has 201 characters, the limit is 200"},
		{"201 escaped", strings.Repeat(`\u00e9`, 201), "produtos[0].nome: has 201 characters, the limit is 200"},
		{"huge", strings.Repeat("a", 600<<10), "produtos[0].nome: has 614400 bytes, the limit is 200 characters"},
		{"empty", "", "produtos[0].nome: empty string"},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(mk(tc.in)), &o)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, 200, utf8.RuneCountInString(o.Items[0].Name))
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

// A name or an id with a character that can move a terminal's cursor or
// reorder text is refused, however the JSON spells it, and the reason shows
// the character escaped.
func TestDecodeControlCharacters(t *testing.T) {
	mk := func(id, name string) string {
		return `{"id_ordem":"` + id + `","documento_cliente":"529.982.247-25","produtos":[{"nome":"` + name + `","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"01/01/2026 10:00:00"}`
	}
	const ctrl = "produtos[0].nome: contains the control character "
	const bidi = "produtos[0].nome: contains the bidirectional control "
	cases := []struct {
		name, id, nome, want string // want is empty when the order is accepted
	}{
		{"escape escaped", "x", `A\u001b[2J`, ctrl + `\u001b (character 2)`},
		{"escape raw", "x", "A\x1b[2J", `produtos[0].nome: invalid JSON at byte 75: control character \u001b in string`},
		{"bell", "x", `A\u0007`, ctrl + `\u0007 (character 2)`},
		{"nul", "x", `A\u0000B`, ctrl + `\u0000 (character 2)`},
		{"newline", "x", `A\nB`, ctrl + `\u000a (character 2)`},
		{"tab", "x", `A\tB`, ctrl + `\u0009 (character 2)`},
		{"carriage return", "x", `Total: 0\rNotebook`, ctrl + `\u000d (character 9)`},
		{"del raw", "x", "A\x7f", ctrl + `\u007f (character 2)`},
		{"del escaped", "x", `A\u007f`, ctrl + `\u007f (character 2)`},
		{"c1 csi raw", "x", "A\u009b2J", ctrl + `\u009b (character 2)`},
		{"c1 escaped", "x", `A\u0080`, ctrl + `\u0080 (character 2)`},
		{"c1 last", "x", `A\u009f`, ctrl + `\u009f (character 2)`},
		{"rlo raw", "x", "Notebook \u202eSI", bidi + `\u202e (character 10)`},
		{"lre escaped", "x", `A\u202a`, bidi + `\u202a (character 2)`},
		{"isolate", "x", `A\u2066`, bidi + `\u2066 (character 2)`},
		{"pop isolate", "x", `A\u2069`, bidi + `\u2069 (character 2)`},
		{"lrm", "x", `A\u200e`, bidi + `\u200e (character 2)`},
		{"rlm", "x", `A\u200f`, bidi + `\u200f (character 2)`},
		{"arabic letter mark", "x", `A\u061c`, bidi + `\u061c (character 2)`},
		{"line separator", "x", `A\u2028B`, `produtos[0].nome: contains the line separator \u2028 (character 2)`},
		{"paragraph separator", "x", "A\u2029B", `produtos[0].nome: contains the paragraph separator \u2029 (character 2)`},
		{"id escaped", `a1\u001b]0;pwned\u0007`, "X", `id_ordem: contains the control character \u001b (character 3)`},
		{"id raw", "a1\u202e", "X", `id_ordem: contains the bidirectional control \u202e (character 3)`},
		{"id newline", `a1\n`, "X", `id_ordem: contains the control character \u000a (character 3)`},
		{"id del", "a1-0123456789abcdef\x7f", "X", `id_ordem: contains the control character \u007f (character 20)`},
		// Printable text of any script stays, and so do joiners and
		// no-break spaces that real names use.
		{"accents", "x", "Tênis Nike Revolution 6 · Echo Dot 5ª Geração", ""},
		{"emoji with joiner", "x", "Caneca 👩\u200d💻", ""},
		{"no-break space", "x", `Smart TV 55\u00a0pol`, ""},
		{"right-to-left script", "x", "كتاب", ""},
		{"id unicode", "pedido-ç-✓", "X", ""},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(mk(tc.id, tc.nome)), &o)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			for _, r := range err.Error() {
				assert.False(t, IsControlRune(r), "the reason holds %U", r)
			}
		})
	}
}

func TestPrintableASCII(t *testing.T) {
	// Every special byte at every position of strings up to 20 bytes: the
	// word test must never call printable what is not, and must agree on
	// plain text.
	for n := 0; n <= 20; n++ {
		base := []byte(strings.Repeat("a~ Z", 5)[:n])
		assert.True(t, printableASCII(base), "%q", base)
		for i := 0; i < n; i++ {
			for _, c := range []byte{0x00, 0x1f, 0x7f, 0x80, 0xc2, 0xff} {
				b := append([]byte(nil), base...)
				b[i] = c
				assert.False(t, printableASCII(b), "%q", b)
			}
		}
	}
}

// Text that is not Unicode is refused, never replaced by U+FFFD: two
// different names must not become one product.
func TestDecodeNotUnicode(t *testing.T) {
	mk := func(id, name string) string {
		return `{"id_ordem":"` + id + `","documento_cliente":"529.982.247-25","produtos":[{"nome":"` + name + `","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"01/01/2026 10:00:00"}`
	}
	const at = 74 // the name's first byte
	half := func(esc string, pos int) string {
		return "produtos[0].nome: " + esc + " at byte " + strconv.Itoa(pos) + " is half a UTF-16 surrogate pair, not a character"
	}
	utf := func(b byte, pos int) string {
		return "produtos[0].nome: invalid JSON at byte " + strconv.Itoa(pos) + ": not valid UTF-8 (byte 0x" + strconv.FormatUint(uint64(b), 16) + ")"
	}
	cases := []struct {
		name, id, nome, want string // want is empty when the order is accepted
	}{
		{"lone high", "x", `A\ud800`, half(`\ud800`, at+1)},
		{"lone high last", "x", `A\udbff`, half(`\udbff`, at+1)},
		{"lone high upper case", "x", `A\uD800B`, half(`\ud800`, at+1)},
		{"lone low", "x", `A\udc00`, half(`\udc00`, at+1)},
		{"high then not low", "x", `\ud800\u0041`, half(`\ud800`, at)},
		{"high then high", "x", `\ud800\ud800\udc00`, half(`\ud800`, at)},
		{"low then high", "x", `\udc00\ud800`, half(`\udc00`, at)},
		{"pair", "x", `A\ud83d\ude00`, ""},
		{"replacement char escaped", "x", `A\ufffd`, ""},
		{"invalid byte", "x", "A\xff", utf(0xff, at+1)},
		{"invalid byte after an escape", "x", `\u00e9` + "A\xfe", utf(0xfe, at+7)},
		{"truncated sequence", "x", "A\xc3", utf(0xc3, at+1)},
		{"overlong", "x", "A\xc0\xaf", utf(0xc0, at+1)},
		{"surrogate in UTF-8", "x", "A\xed\xa0\x80", utf(0xed, at+1)},
		{"id lone surrogate", `a\ud800`, "X", `id_ordem: \ud800 at byte 14 is half a UTF-16 surrogate pair, not a character`},
		{"id invalid byte", "a\xff", "X", `id_ordem: invalid JSON at byte 14: not valid UTF-8 (byte 0xff)`},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(mk(tc.id, tc.nome)), &o)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.True(t, utf8.ValidString(err.Error()))
		})
	}

	// Both spellings of U+FFFD are one product; a lone surrogate is none.
	var o Order
	require.NoError(t, d.Decode([]byte(mk("x", `A\ufffd`)), &o))
	name := o.Items[0].Name
	require.NoError(t, d.Decode([]byte(mk("x", "A\uFFFD")), &o))
	assert.Equal(t, name, o.Items[0].Name)

	// A lone surrogate or bad UTF-8 in a field we skip is refused too, with
	// no field to name.
	unknown := strings.Replace(validOrder, `{"id_ordem"`, `{"nota":"\ud800","id_ordem"`, 1)
	require.ErrorContains(t, d.Decode([]byte(unknown), &o), `\ud800 at byte 9 is half a UTF-16 surrogate pair`)
	unknown = strings.Replace(validOrder, `{"id_ordem"`, "{\"nota\xff\":1,\"id_ordem\"", 1)
	err := d.Decode([]byte(unknown), &o)
	require.Error(t, err)
	assert.Equal(t, "invalid JSON at byte 6: not valid UTF-8 (byte 0xff)", err.Error())
}

// São Paulo kept daylight saving time until 2019: a wall-clock time the
// clocks skipped never happened and is refused like 31/02; one they showed
// twice is accepted as its first occurrence.
func TestDecodeDaylightSaving(t *testing.T) {
	mk := func(date string) string {
		return `{"id_ordem":"x","documento_cliente":"529.982.247-25","produtos":[{"nome":"X","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"` + date + `"}`
	}
	const gap2018 = ": no such local time in America/Sao_Paulo: clocks jumped from 00:00:00 to 01:00:00 on 04/11/2018"
	cases := []struct {
		date, want string // want is empty when the order is accepted
	}{
		{"03/11/2018 23:59:59", ""},
		{"04/11/2018 00:00:00", `data_hora_venda: "04/11/2018 00:00:00"` + gap2018},
		{"04/11/2018 00:30:00", `data_hora_venda: "04/11/2018 00:30:00"` + gap2018},
		{"04/11/2018 00:59:59", `data_hora_venda: "04/11/2018 00:59:59"` + gap2018},
		{"04/11/2018 01:00:00", ""},
		{"15/10/2017 00:10:00", `data_hora_venda: "15/10/2017 00:10:00": no such local time in America/Sao_Paulo: clocks jumped from 00:00:00 to 01:00:00 on 15/10/2017`},
		{"03/10/1931 11:30:00", `data_hora_venda: "03/10/1931 11:30:00": no such local time in America/Sao_Paulo: clocks jumped from 11:00:00 to 12:00:00 on 03/10/1931`},
		// The switch from local mean time to UTC-3 in 1914 skipped 6m28s.
		{"01/01/1914 00:06:27", `data_hora_venda: "01/01/1914 00:06:27": no such local time in America/Sao_Paulo: clocks jumped from 00:00:00 to 00:06:28 on 01/01/1914`},
		{"01/01/1914 00:06:28", ""},
		// DST ended at midnight of 17/02/2019: 16/02 23:00-23:59:59 twice.
		{"16/02/2019 23:30:00", ""},
		{"17/02/2019 23:30:00", ""},
		{"24/11/2026 18:03:59", ""},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.date, func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(mk(tc.date)), &o)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.date, o.SoldAt.String())
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestLocalTimeRepeatedHour(t *testing.T) {
	at := func(s string) time.Time {
		lt, err := ParseLocalTime([]byte(s))
		require.NoError(t, err)
		return lt.Time()
	}
	// The first occurrence, still in daylight time (UTC-2), as RFC 5545
	// and java.time read such a time.
	assert.Equal(t, "2019-02-17T01:30:00Z", at("16/02/2019 23:30:00").UTC().Format(time.RFC3339))
	assert.Equal(t, "2019-02-17T01:00:00Z", at("16/02/2019 23:00:00").UTC().Format(time.RFC3339))
	assert.Equal(t, "2019-02-17T01:59:59Z", at("16/02/2019 23:59:59").UTC().Format(time.RFC3339))
	// Around it, one instant each.
	assert.Equal(t, "2019-02-17T00:59:59Z", at("16/02/2019 22:59:59").UTC().Format(time.RFC3339))
	assert.Equal(t, "2019-02-17T03:00:00Z", at("17/02/2019 00:00:00").UTC().Format(time.RFC3339))
	assert.Equal(t, "2019-02-18T02:30:00Z", at("17/02/2019 23:30:00").UTC().Format(time.RFC3339))
	assert.Equal(t, "2018-11-04T03:00:00Z", at("04/11/2018 01:00:00").UTC().Format(time.RFC3339))
	// Every instant's wall-clock time parses back to a time with that wall
	// clock, over a whole DST period.
	for i := time.Date(2018, 11, 3, 0, 0, 0, 0, time.UTC); i.Before(time.Date(2019, 2, 19, 0, 0, 0, 0, time.UTC)); i = i.Add(10 * time.Minute) {
		lt := LocalTimeOf(i)
		p, err := ParseLocalTime([]byte(lt.String()))
		require.NoError(t, err, lt.String())
		assert.Equal(t, lt, LocalTimeOf(p.Time()), lt.String())
	}
}

// A CPF is personal data (LGPD): a reason shows it masked the way Brazilian
// portals do, or only its shape when it is not even formatted as one.
func TestDecodeCPFMasked(t *testing.T) {
	mk := func(cpf string) string {
		return `{"id_ordem":"x","documento_cliente":` + string(AppendString(nil, cpf)) + `,"produtos":[{"nome":"X","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"01/01/2026 10:00:00"}`
	}
	cases := []struct{ cpf, want string }{
		{"529.982.247-26", `documento_cliente: invalid CPF "***.982.247-**": check digits do not match`},
		{"111.111.111-11", `documento_cliente: invalid CPF "***.111.111-**": all eleven digits are equal`},
		{"52998224725", `documento_cliente: invalid CPF, 11 characters shaped "###########": not formatted 000.000.000-00`},
		{"529982247-25", `documento_cliente: invalid CPF, 12 characters shaped "#########-##": not formatted 000.000.000-00`},
		{"CPF 529.982.247-25", `documento_cliente: invalid CPF, 18 characters shaped "aaa ###.###.###-##": not formatted 000.000.000-00`},
		{"529.982.247-2é\n", `documento_cliente: invalid CPF, 15 characters shaped "###.###.###-#??": not formatted 000.000.000-00`},
		{"", `documento_cliente: invalid CPF, 0 characters shaped "": not formatted 000.000.000-00`},
		{strings.Repeat("529.982.247-25", 1000), `documento_cliente: invalid CPF, 14000 characters shaped "###.###.###-#####.###.###-#####.###.###-#####.###.###-#####.###."…: not formatted 000.000.000-00`},
	}
	d := NewDecoder()
	for _, tc := range cases {
		t.Run(tc.cpf[:min(len(tc.cpf), 20)], func(t *testing.T) {
			var o Order
			err := d.Decode([]byte(mk(tc.cpf)), &o)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}

	// No reason holds eleven digits of the input in a row, formatted or not,
	// whatever is wrong with it.
	onlyDigits := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	var inputs []string
	for i := range 300 {
		var base [9]byte
		for j := range base {
			base[j] = byte((i*7 + j*j*3 + i*j) % 10)
		}
		cpf := string(AppendCPF(nil, &base))
		wrong := []byte(cpf)
		wrong[13] = '0' + (wrong[13]-'0'+1)%10
		inputs = append(inputs, string(wrong), onlyDigits(cpf), strings.ReplaceAll(cpf, ".", ""),
			" "+cpf, cpf+" ", cpf[1:], cpf+"0", strings.ReplaceAll(cpf, ".", "/"), "CPF: "+cpf, cpf+cpf)
	}
	for _, in := range inputs {
		var o Order
		err := d.Decode([]byte(mk(in)), &o)
		if err == nil {
			continue // reordered digits that happen to be a valid CPF
		}
		// The format's name, 000.000.000-00, is not the input's digits.
		shown := onlyDigits(strings.ReplaceAll(err.Error(), errCPFFormat.Error(), ""))
		digits := onlyDigits(in)
		for j := 0; j+11 <= len(digits); j++ {
			require.NotContains(t, shown, digits[j:j+11], "input %q, reason %q", in, err.Error())
		}
	}
}

// TestParseSum: sums of amounts read back up to what int64 centavos hold,
// past the bound of one amount, exactly; one more centavo is refused.
func TestParseSum(t *testing.T) {
	for in, want := range map[string]Cents{
		"92233720368547758.07": math.MaxInt64,
		"10000000000000.01":    1e15 + 1,
		"0.05":                 5,
	} {
		got, err := ParseSum([]byte(in))
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		assert.Equal(t, in, got.String())
	}
	for _, in := range []string{"92233720368547758.08", "92233720368547759", "100000000000000000"} {
		_, err := ParseSum([]byte(in))
		assert.Error(t, err, in)
	}
	_, err := ParseCents([]byte("10000000000000.01"))
	assert.Error(t, err, "one amount stays bounded")
}
