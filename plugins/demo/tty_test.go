package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// ttyEnv is the demo both runs of TestDemoFitsTerminal make: the same
// seeded orders give the same totals.
var ttyEnv = []string{"ORDERS_COUNT=3000", "ORDERS_RATE=0", "ORDERS_SEED=11", "AGGREGATE_INTERVAL=200ms", "CONSUME_HTTP_ADDRESS=127.0.0.1:0"}

// TestDemoFitsTerminal runs `vendas-connect demo` with its stdout on a
// pseudo-terminal of 80×24 and of 160×50 and reads the last table it drew:
// no line as wide as the window, the title and the headers there, the best
// sellers in order, and an outros row that adds up (its units, orders and
// value are the sums of the products it folds, and the rows shown plus
// outros make the totals). The totals of every product come from the same
// demo with OUTPUT_FORMAT=json.
func TestDemoFitsTerminal(t *testing.T) {
	want := jsonTotals(t)
	products := slices.Clone(want.Products)
	require.Greater(t, len(products), 50, "enough products to fold at 160×50")

	for _, size := range []struct{ cols, rows int }{{80, 24}, {160, 50}} {
		t.Run(fmt.Sprintf("%dx%d", size.cols, size.rows), func(t *testing.T) {
			out := runOnTerminal(t, size.cols, size.rows)
			lines := lastFrame(t, out)
			table := strings.Join(lines, "\n")

			assert.Len(t, lines, size.rows-1, "the table fills the window but the last line:\n%s", table)
			for _, l := range lines {
				assert.Less(t, utf8.RuneCountInString(l), size.cols, "no line reaches the last column: %q", l)
			}
			assert.Regexp(t, `\d\d:\d\d:\d\d · pedidos 3\.000 · rejeitados 0`, lines[0], "the title")
			header := regexp.MustCompile(`\s{2,}`).Split(lines[1], -1)
			assert.Equal(t, []string{"produto", "unidades", "pedidos", "valor", "receita"}, header[:5])
			require.Regexp(t, `^-+  -+`, lines[2])
			require.Regexp(t, `^-+  -+`, lines[len(lines)-2])

			body := lines[3 : len(lines)-2]
			shown := body[:len(body)-1]
			for i, l := range shown {
				row := parseRow(t, l)
				p := products[i]
				assert.Equal(t, int64(p.Value), row[3], "row %d is the best seller number %d: %q", i, i+1, l)
				assert.Equal(t, p.Units, row[1], "units of %s", p.Name)
				assert.Equal(t, p.Orders, row[2], "orders of %s", p.Name)
				name := strings.TrimSpace(l[:strings.Index(l, "  ")])
				if short, ok := strings.CutSuffix(name, "…"); ok {
					assert.True(t, strings.HasPrefix(p.Name, short), "%q shortens %q", name, p.Name)
				} else {
					assert.Equal(t, p.Name, name)
				}
			}

			folded := products[len(shown):]
			outros := parseRow(t, body[len(body)-1])
			assert.True(t, strings.HasPrefix(body[len(body)-1], fmt.Sprintf("outros (%d produtos)  ", len(folded))), "%q", body[len(body)-1])
			var units, orders, value int64
			for _, p := range folded {
				units += p.Units
				orders += p.Orders
				value += int64(p.Value)
			}
			assert.Equal(t, [3]int64{units, orders, value}, [3]int64{outros[1], outros[2], outros[3]}, "outros: units, orders and value of the %d products it folds", len(folded))

			total := parseRow(t, lines[len(lines)-1])
			require.True(t, strings.HasPrefix(lines[len(lines)-1], "TOTAL "))
			units, value = 0, 0
			for _, l := range body {
				r := parseRow(t, l)
				units += r[1]
				value += r[3]
			}
			assert.Equal(t, total[1], units, "shown rows + outros = total units")
			assert.Equal(t, total[3], value, "shown rows + outros = total value")
			assert.Equal(t, int64(want.Value), total[3], "the total value")
			assert.Equal(t, int64(3000), total[2], "the total orders")
		})
	}
}

// jsonTotals runs the demo with OUTPUT_FORMAT=json and returns its last
// snapshot: every product, by value.
func jsonTotals(t *testing.T) *aggregate.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo")
	cmd.Env = append(append(os.Environ(), ttyEnv...), "OUTPUT_FORMAT=json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	s, err := aggregate.ParseSnapshot([]byte(lines[len(lines)-1]))
	require.NoError(t, err)
	require.Equal(t, int64(3000), s.Orders)
	return s
}

// runOnTerminal runs the demo with its stdout on a new pseudo-terminal of
// cols × rows and returns everything it wrote there.
func runOnTerminal(t *testing.T, cols, rows int) []byte {
	t.Helper()
	master, slave := openPTY(t, cols, rows)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo")
	cmd.Env = append(os.Environ(), ttyEnv...)
	cmd.Stdout = slave
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// Only the demo holds the terminal now: reading ends when it exits.
	require.NoError(t, slave.Close())
	read := make(chan []byte)
	go func() {
		// Reading the master after the last slave closes fails with EIO.
		out, _ := io.ReadAll(bufio.NewReader(master))
		read <- out
	}()
	require.NoError(t, cmd.Wait(), "the demo ends by itself; stderr:\n%s", stderr.String())
	out := <-read
	require.NoError(t, master.Close())
	return out
}

// openPTY opens a pseudo-terminal pair with a window of cols × rows.
func openPTY(t *testing.T, cols, rows int) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(master.Fd())
	require.NoError(t, unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0), "unlocking the pty")
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err, "the pty's number")
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(cols), Row: uint16(rows)}))
	return master, slave
}

// lastFrame is the last table drawn on the terminal: each starts at the
// cursor's home, and its lines end with clear-to-end-of-line codes.
func lastFrame(t *testing.T, out []byte) []string {
	t.Helper()
	frames := strings.Split(string(out), "\x1b[H")
	require.Greater(t, len(frames), 1, "tables drawn in place:\n%q", out)
	last := frames[len(frames)-1]
	require.True(t, strings.HasSuffix(last, "\x1b[J\r\n"), "the rest of the screen cleared after the table: %q", last)
	last = strings.NewReplacer("\x1b[K", "", "\x1b[J", "", "\r\n", "\n").Replace(last)
	require.NotContains(t, last, "\x1b", "no other terminal codes")
	return strings.Split(strings.TrimSuffix(last, "\n"), "\n")
}

// parseRow reads the numbers of a table row: units, orders and value in
// centavos at 1, 2 and 3.
func parseRow(t *testing.T, line string) [4]int64 {
	t.Helper()
	cells := regexp.MustCompile(`\s{2,}`).Split(line, -1)
	require.GreaterOrEqual(t, len(cells), 4, "%q", line)
	var row [4]int64
	for i, c := range cells[1:4] {
		c = strings.NewReplacer("R$ ", "", ".", "", ",", "").Replace(c)
		n, err := strconv.ParseInt(c, 10, 64)
		require.NoError(t, err, "cell %d of %q", i+1, line)
		row[i+1] = n
	}
	return row
}
