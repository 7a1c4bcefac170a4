// Package devbroker runs an embedded Kafka-compatible broker (franz-go's
// kfake) for development, demos and tests. It keeps data in memory only.
package devbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Defaults used when Options leave a field empty.
const (
	DefaultAddr       = "127.0.0.1:9092"
	DefaultPartitions = 6
)

// DefaultTopics are created at start when Options.Topics is empty.
var DefaultTopics = []string{"vendas_ecommerce", "vendas_ecommerce_dlq"}

// Options configure an embedded broker.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free port (read it
	// back with Broker.Addr). Empty means 127.0.0.1:0.
	Addr string
	// Partitions of the topics created at start and of auto-created topics.
	// Zero means DefaultPartitions.
	Partitions int
	// Topics to create at start. Empty means DefaultTopics. Other topics are
	// created when first used.
	Topics []string
	// DataDir, when set, makes the broker save its state there on Close and
	// load it on Start, which lets tests simulate a broker restart. The
	// dev-broker command never sets it: its data lives in memory only.
	DataDir string
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string

	closeOnce sync.Once
	stopCtx   context.CancelFunc
}

// Start listens on opts.Addr and serves until Close is called or ctx is done.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Partitions == 0 {
		opts.Partitions = DefaultPartitions
	}
	if opts.Partitions < 1 {
		return nil, fmt.Errorf("partitions: %d is invalid, must be at least 1", opts.Partitions)
	}
	if len(opts.Topics) == 0 {
		opts.Topics = DefaultTopics
	}
	host, portStr, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("addr %q: expected host:port: %w", opts.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("addr %q: %q is not a port number", opts.Addr, portStr)
	}

	kopts := []kfake.Opt{
		// One broker: clients are told to come back to the address we listen on.
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return nil, err
			}
			return advertised(ln), nil
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(opts.Partitions),
		kfake.SeedTopics(int32(opts.Partitions), opts.Topics...),
		kfake.ClusterID("vendas-connect-dev"),
		kfake.MaxVersions(fetchV6()),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", opts.Addr, err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) == 0 {
		cluster.Close()
		return nil, errors.New("start embedded broker: no listen address")
	}

	stopCtx, cancel := context.WithCancel(ctx)
	b := &Broker{cluster: cluster, addr: addrs[0], stopCtx: cancel}
	go func() {
		<-stopCtx.Done()
		b.Close()
	}()
	return b, nil
}

// Addr is the host:port clients use as seed broker (KAFKA_BROKERS).
func (b *Broker) Addr() string {
	return b.addr
}

// Close stops the broker; its data is gone unless Options.DataDir was set.
// It is safe to call more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.stopCtx()
		b.cluster.Close()
	})
}

// advertised wraps a listener so that a wildcard address (0.0.0.0, ::) is
// advertised to clients as the loopback address they can actually dial.
func advertised(ln net.Listener) net.Listener {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return ln
	}
	return &advertisedListener{Listener: ln, addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: tcp.Port}}
}

type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l *advertisedListener) Addr() net.Addr { return l.addr }

// fetchV6 caps Fetch at version 6, before fetch sessions: kfake's sessions
// lose track of a partition that a consumer paused and resumed (kafka_franz
// does at checkpoint_limit), and the consumer then stalls short of the end
// of the topic. Real Kafka is not affected.
func fetchV6() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(kmsg.Fetch.Int16(), 6)
	return v
}
