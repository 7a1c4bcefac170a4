package generator

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
)

// How the sales_orders input stops. Benthos ends a pipeline whose output
// cannot deliver by waiting out its shutdown_timeout (20s by default) in
// silence and then exits with status 0, although the orders it generated
// never reached Kafka. The input therefore:
//   - on the first Ctrl-C (SIGINT or SIGTERM), if orders are still
//     unacknowledged a moment later, says how many and what it waits for;
//   - on a second Ctrl-C with orders unacknowledged, logs how many and ends
//     the process at once with status exitUnacked;
//   - when it is closed with orders unacknowledged, logs how many and ends
//     the process with status exitUnacked (Benthos would exit 0).

// exitUnacked is the process status when the input stops with orders that
// were generated but not acknowledged by the output.
const exitUnacked = 1

// ackGrace is how long after the first Ctrl-C the orders already sent may
// take to be acknowledged before the input says it is waiting for them: a
// healthy broker answers well within it, so a normal stop says nothing more.
const ackGrace = 500 * time.Millisecond

// shutdownTimeout is Benthos' default shutdown_timeout, named in the message.
const shutdownTimeout = 20 * time.Second

var (
	hooksMu sync.Mutex
	// notifySignals subscribes c to Ctrl-C and SIGTERM; tests replace it.
	notifySignals = func(c chan<- os.Signal) (stop func()) {
		signal.Notify(c, os.Interrupt, syscall.SIGTERM)
		return func() { signal.Stop(c) }
	}
)

// exitProcess ends the process through package lifecycle (main flushes its
// logs first).
func exitProcess(code int) { lifecycle.Exit(code) }

// unacked is how many orders were generated and not acknowledged.
func (in *input) unacked() (unacked, generated uint64) {
	generated = in.pace.emittedSnapshot()
	acked := in.acked.Load()
	if acked > generated {
		return 0, generated
	}
	return generated - acked, generated
}

// watchSignals tells the operator what a stop is waiting for, and stops the
// process at once on a second Ctrl-C. It ends when stop is closed.
func (in *input) watchSignals(stop <-chan struct{}) {
	sigs := make(chan os.Signal, 2)
	hooksMu.Lock()
	notify := notifySignals
	hooksMu.Unlock()
	unsubscribe := notify(sigs)
	defer unsubscribe()

	signalled := false
	timer := time.NewTimer(ackGrace)
	timer.Stop()
	defer timer.Stop()
	var grace <-chan time.Time
	var sentBefore uint64
	for {
		select {
		case <-stop:
			return
		case <-sigs:
			if !signalled {
				signalled = true
				sentBefore = in.pace.emittedSnapshot()
				timer.Reset(ackGrace)
				grace = timer.C
				continue
			}
			if n, generated := in.unacked(); n > 0 {
				in.writeExpected(false)
				in.log.Errorf("sales_orders: stopped by a second interrupt with %d of %d generated orders unacknowledged: they may not be in Kafka; exiting with status %d", n, generated, exitUnacked)
				exitProcess(exitUnacked)
				return
			}
		case <-grace:
			grace = nil
			// Acks come in any order, so compare counts: every order sent
			// before the signal is acknowledged once acked reaches that count.
			if in.acked.Load() >= sentBefore {
				continue
			}
			n, _ := in.unacked()
			in.log.Warnf("sales_orders: stopping: waiting up to the shutdown_timeout (%v unless the config sets it) for %d unacknowledged orders to be acknowledged by the output; press Ctrl-C again to stop now", shutdownTimeout, n)
		}
	}
}

// reportClose logs the counts at close and ends the process when orders are
// left unacknowledged: a run that lost orders must not end with status 0.
func (in *input) reportClose() {
	n, generated := in.unacked()
	if n == 0 {
		in.log.Infof("sales_orders: %d orders generated, %d acknowledged", generated, generated)
		return
	}
	in.log.Errorf("sales_orders: stopped with %d of %d generated orders unacknowledged (%d acknowledged): they may not be in Kafka; exiting with status %d", n, generated, generated-n, exitUnacked)
	exitProcess(exitUnacked)
}
