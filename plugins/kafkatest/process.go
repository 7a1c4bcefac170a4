package kafkatest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ConfigEnvPrefixes are the environment variables the shipped configs read
// (and their families). StartProcess does not pass them on from the test's
// own environment, so a child sees only what the test gives it: CI exports
// KAFKA_BROKERS, and a developer's shell may hold STATE_DIR or ORDERS_SEED.
var ConfigEnvPrefixes = []string{
	"KAFKA_", "ORDERS_", "STATE_DIR=", "OUTPUT_FORMAT=", "AGGREGATE_INTERVAL=",
	"LOG_LEVEL=", "PRODUCE_HTTP_ADDRESS=", "CONSUME_HTTP_ADDRESS=",
}

// Process is a command a test started, usually vendas-connect: its stdout
// and stderr are read line by line, so a test can wait for a line (a JSON
// snapshot, an error message) with a deadline instead of sleeping.
type Process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every new line and at exit
	stdout  []string
	stderr  []string
	exited  bool
	waitErr error
	done    chan struct{}
}

// StartProcess starts path with args. The environment is the test's, minus
// ConfigEnvPrefixes, plus env. On failure the test log gets the tails of
// both streams; the process is killed when the test ends if still running.
func StartProcess(t testing.TB, name string, env map[string]string, path string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = childEnv(os.Environ(), env)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p := &Process{t: t, name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, path, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.readLines(stdout, &p.stdout, &readers)
	go p.readLines(stderr, &p.stderr, &readers)
	go func() {
		// Wait closes the pipes, so the readers must finish first.
		readers.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.exited, p.waitErr = true, err
		p.notifyLocked()
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.logTails(40)
		}
	})
	return p
}

func childEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		drop := false
		for _, prefix := range ConfigEnvPrefixes {
			if strings.HasPrefix(kv, prefix) {
				drop = true
				break
			}
		}
		if name, _, _ := strings.Cut(kv, "="); !drop && env != nil {
			_, drop = env[name]
		}
		if !drop {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func (p *Process) readLines(r io.Reader, dst *[]string, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		p.mu.Lock()
		*dst = append(*dst, sc.Text())
		p.notifyLocked()
		p.mu.Unlock()
	}
	// A line too long or a read error: drain the rest so the child never
	// blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

func (p *Process) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Name is the name given at start, used in messages.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stdout is a copy of the stdout lines read so far.
func (p *Process) Stdout() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...)
}

// Stderr is the stderr read so far.
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// Output is everything read so far from both streams, stdout first.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stdout, "\n") + "\n" + strings.Join(p.stderr, "\n")
}

// Exited says whether the process has ended (and both streams are read).
func (p *Process) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// ExitErr is the error of cmd.Wait once the process has ended.
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// ErrExited is returned by the waits when the process ended before the
// condition held.
var ErrExited = errors.New("process exited")

// WaitUntil re-evaluates cond on every new line and at exit, until it holds
// (nil), the process ends with cond false (ErrExited) or timeout passes.
// cond runs with no lock held.
func (p *Process) WaitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		changed, exited := p.changed, p.exited
		p.mu.Unlock()
		if cond() {
			return nil
		}
		if exited {
			return fmt.Errorf("%s: %w (%v)", p.name, ErrExited, p.ExitErr())
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("%s: condition not met within %s", p.name, timeout)
		}
	}
}

// WaitOutput waits until either stream holds a line containing every one of
// substrs (case-insensitive) and returns that line.
func (p *Process) WaitOutput(timeout time.Duration, substrs ...string) (string, error) {
	var found string
	err := p.WaitUntil(timeout, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, lines := range [][]string{p.stdout, p.stderr} {
			for _, l := range lines {
				if containsAllFold(l, substrs) {
					found = l
					return true
				}
			}
		}
		return false
	})
	return found, err
}

func containsAllFold(s string, substrs []string) bool {
	s = strings.ToLower(s)
	for _, sub := range substrs {
		if !strings.Contains(s, strings.ToLower(sub)) {
			return false
		}
	}
	return true
}

// WaitSnapshot waits for a snapshot line on stdout, at or after line index
// from, for which cond holds; it returns the snapshot and the index of the
// line after it. Lines that are not snapshots are skipped.
func (p *Process) WaitSnapshot(timeout time.Duration, from int, cond func(Snapshot) bool) (Snapshot, int, error) {
	var found Snapshot
	next := from
	var parseErr error
	err := p.WaitUntil(timeout, func() bool {
		lines := p.Stdout()
		for ; next < len(lines); next++ {
			if !IsSnapshotLine(lines[next]) {
				continue
			}
			s, err := ParseSnapshot(lines[next])
			if err != nil {
				parseErr = err
				return true
			}
			if cond(s) {
				found = s
				next++
				return true
			}
		}
		return false
	})
	if parseErr != nil {
		return Snapshot{}, next, fmt.Errorf("%s: stdout line %d: %w", p.name, next+1, parseErr)
	}
	if err != nil {
		last, ok := p.LastSnapshot()
		if ok {
			return Snapshot{}, next, fmt.Errorf("%w; last snapshot: pedidos=%d rejeitados=%d", err, last.Orders, last.Rejected)
		}
		return Snapshot{}, next, fmt.Errorf("%w; no snapshot printed", err)
	}
	return found, next, nil
}

// LastSnapshot is the last snapshot printed so far.
func (p *Process) LastSnapshot() (Snapshot, bool) {
	lines := p.Stdout()
	for i := len(lines) - 1; i >= 0; i-- {
		if !IsSnapshotLine(lines[i]) {
			continue
		}
		if s, err := ParseSnapshot(lines[i]); err == nil {
			return s, true
		}
	}
	return Snapshot{}, false
}

// Wait waits for the process to end by itself and returns its exit error.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.ExitErr()
	case <-time.After(timeout):
		return fmt.Errorf("%s: still running after %s", p.name, timeout)
	}
}

// Kill sends SIGKILL (a crash: no shutdown, no final commit) and waits for
// the process to be gone.
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("%s: kill -9: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("%s: still running 30s after SIGKILL", p.name)
	}
}

// Stop sends SIGINT (Ctrl-C) and waits up to timeout for the process to end,
// returning its exit error (nil for status 0). Past the timeout it is killed
// and an error says so.
func (p *Process) Stop(timeout time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: SIGINT: %w", p.name, err)
	}
	select {
	case <-p.done:
		return p.ExitErr()
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s: still running %s after SIGINT; killed", p.name, timeout)
	}
}

func (p *Process) logTails(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tail := func(lines []string) string {
		lines = lines[max(0, len(lines)-n):]
		for i, l := range lines {
			if len(l) > 300 {
				lines[i] = l[:300] + "…"
			}
		}
		return strings.Join(lines, "\n")
	}
	p.t.Logf("%s (pid %d, exited=%v %v)\n--- stdout tail ---\n%s\n--- stderr tail ---\n%s",
		p.name, p.cmd.Process.Pid, p.exited, p.waitErr, tail(append([]string(nil), p.stdout...)), tail(append([]string(nil), p.stderr...)))
}

// Snapshot is a sales_aggregate JSON snapshot as a test reads it: money in
// centavos, products by name, parsed with encoding/json independently of the
// aggregate package.
type Snapshot struct {
	Orders   int64
	Rejected int64
	Products map[string]ProductSum
	// Offsets is topic → partition → last offset in the totals.
	Offsets map[string]map[string]int64
	Line    string
}

// IsSnapshotLine says whether a stdout line looks like a JSON snapshot.
func IsSnapshotLine(line string) bool {
	return strings.HasPrefix(line, "{") && strings.Contains(line, `"pedidos"`)
}

// ParseSnapshot reads one JSON snapshot line
// ({"pedidos":…,"produtos":[{"produto","quantidade","pedidos","valor_total"}],"rejeitados":…,"offsets":…}).
// A product listed twice is an error.
func ParseSnapshot(line string) (Snapshot, error) {
	var doc struct {
		Pedidos    *int64 `json:"pedidos"`
		Rejeitados int64  `json:"rejeitados"`
		Produtos   []struct {
			Produto    string      `json:"produto"`
			Quantidade int64       `json:"quantidade"`
			Pedidos    int64       `json:"pedidos"`
			ValorTotal json.Number `json:"valor_total"`
		} `json:"produtos"`
		Offsets map[string]map[string]int64 `json:"offsets"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	if doc.Pedidos == nil {
		return Snapshot{}, errors.New("snapshot: no pedidos field")
	}
	s := Snapshot{Orders: *doc.Pedidos, Rejected: doc.Rejeitados, Offsets: doc.Offsets, Line: line,
		Products: make(map[string]ProductSum, len(doc.Produtos))}
	for i, p := range doc.Produtos {
		c, err := CentsOf(p.ValorTotal)
		if err != nil {
			return Snapshot{}, fmt.Errorf("snapshot: produtos[%d].valor_total: %w", i, err)
		}
		if _, dup := s.Products[p.Produto]; dup {
			return Snapshot{}, fmt.Errorf("snapshot: product %q listed twice", p.Produto)
		}
		s.Products[p.Produto] = ProductSum{Units: p.Quantidade, Orders: p.Pedidos, Cents: c}
	}
	return s, nil
}
