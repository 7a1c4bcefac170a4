package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeTimeout is how long a seed broker has to answer one Kafka request
// before we say it is not a Kafka broker. franz-go itself waits about 20s
// before reporting a bare "i/o timeout".
const probeTimeout = 3 * time.Second

// probeCorrelationID has no byte that is a newline or a letter, so a line
// based server (HTTP, SMTP, Redis) never sees a complete line or command in
// the request and cannot mistake it for one.
const probeCorrelationID = 0x01020304

// notKafkaError says that something answers at addr, but not as a Kafka
// broker.
type notKafkaError struct {
	addr string
	why  string
}

func (e *notKafkaError) Error() string {
	return fmt.Sprintf("%s did not answer as a Kafka broker: %s", e.addr, e.why)
}

// probeBroker connects to addr, sends it an ApiVersions request (the first
// request of every Kafka client, which a broker answers before any
// authentication) and checks that the answer is a Kafka response. It returns
// a *notKafkaError when the address accepts the connection but answers
// nothing within timeout, closes the connection, or answers something else;
// dial and TLS errors are returned as they are.
func probeBroker(ctx context.Context, addr string, tlsConf *tls.Config, timeout time.Duration) error {
	addr = withDefaultPort(addr)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// A context cancelled by the caller (shutdown) ends the exchange at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if tlsConf != nil {
		cfg := tlsConf.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			if isAuthErr(err) {
				return fmt.Errorf("%s: TLS handshake: %w", addr, err)
			}
			return &notKafkaError{addr, fmt.Sprintf("the TLS handshake failed (%v); is it a TLS listener?", err)}
		}
		conn = tc
	}

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	wire := kmsg.NewRequestFormatter(kmsg.FormatterClientID("vendas-connect-probe")).AppendRequest(nil, req, probeCorrelationID)
	if _, err := conn.Write(wire); err != nil {
		return &notKafkaError{addr, fmt.Sprintf("writing a request failed: %v", err)}
	}

	head := make([]byte, 8) // response size, correlation id
	n, err := io.ReadFull(conn, head)
	switch {
	case err == nil:
	case n > 0:
		return &notKafkaError{addr, fmt.Sprintf("it answered %q, which is not a Kafka response", head[:n])}
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case isTimeout(err):
		hint := ""
		if tlsConf == nil {
			hint = ", or a Kafka listener that expects TLS? (then set tls.enabled, KAFKA_TLS=true)"
		}
		return &notKafkaError{addr, fmt.Sprintf("it accepted the connection but sent no reply to a Kafka request within %v: is it an HTTP server or another service%s", timeout, hint)}
	default:
		return &notKafkaError{addr, fmt.Sprintf("it closed the connection without answering a Kafka request (%v)", err)}
	}
	size := int32(binary.BigEndian.Uint32(head[:4]))
	corr := int32(binary.BigEndian.Uint32(head[4:]))
	if size < 4+2 || size > 1<<20 || corr != probeCorrelationID {
		// Read what else came, to show the operator what answered.
		rest := make([]byte, 64)
		m, _ := io.ReadAtLeast(conn, rest, 1)
		return &notKafkaError{addr, fmt.Sprintf("it answered %q, which is not a Kafka response", printable(append(head, rest[:m]...)))}
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return &notKafkaError{addr, fmt.Sprintf("its answer was cut short: %v", err)}
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		return &notKafkaError{addr, fmt.Sprintf("its answer is not a Kafka ApiVersions response: %v", err)}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// printable keeps the first line of an answer, readable in a log.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

func withDefaultPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), strconv.Itoa(9092))
}

// checkSeedBrokers probes every seed broker at once and returns nil as soon
// as one answers as a Kafka broker. Otherwise it returns every seed's error,
// so that the message names each address and what it did.
func checkSeedBrokers(ctx context.Context, seeds []string, tlsConf *tls.Config, timeout time.Duration) error {
	if len(seeds) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(seeds))
	ok := make(chan struct{}, len(seeds))
	var wg sync.WaitGroup
	for i, addr := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = probeBroker(ctx, addr, tlsConf, timeout); errs[i] == nil {
				ok <- struct{}{}
			}
		}()
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	select {
	case <-ok:
		cancel()
		<-all
		return nil
	case <-all:
	}
	select {
	case <-ok:
		return nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}
