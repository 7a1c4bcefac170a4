// Package kafka provides the kafka_franz input and output: Kafka components on
// the franz-go client with the field names and meanings of Redpanda Connect's
// kafka_franz, so a YAML written for one works with the other.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dustin/go-humanize"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Field names shared by the input and the output.
const (
	fieldSeedBrokers  = "seed_brokers"
	fieldClientID     = "client_id"
	fieldTLS          = "tls"
	fieldSASL         = "sasl"
	fieldSASLMech     = "mechanism"
	fieldSASLUsername = "username"
	fieldSASLPassword = "password"
	fieldBatching     = "batching"
	fieldBulk         = "bulk"
)

// SASL mechanisms accepted by the sasl field.
const (
	saslNone        = "none"
	saslPlain       = "PLAIN"
	saslScramSHA256 = "SCRAM-SHA-256"
	saslScramSHA512 = "SCRAM-SHA-512"
)

// connectionFields returns the fields that describe how to reach the cluster.
func connectionFields() []*service.ConfigField {
	return []*service.ConfigField{
		service.NewStringListField(fieldSeedBrokers).
			Description("A list of broker addresses to connect to in order to establish connections. If an item of the list contains commas it is expanded into multiple addresses, so `${KAFKA_BROKERS}` may hold `a:9092,b:9092`.").
			Example([]string{"localhost:9092"}).
			Example([]string{"foo:9092", "bar:9092"}).
			Example([]string{"foo:9092,bar:9092"}),
		service.NewStringField(fieldClientID).
			Description("An identifier for the client connection, visible in broker logs and quotas.").
			Default("benthos").
			Example("vendas-connect").
			Advanced(),
		service.NewTLSToggledField(fieldTLS),
		saslField(),
	}
}

func saslField() *service.ConfigField {
	return service.NewObjectListField(fieldSASL,
		service.NewStringAnnotatedEnumField(fieldSASLMech, map[string]string{
			saslNone:        "Disable SASL authentication.",
			saslPlain:       "Plain text authentication; use it together with TLS.",
			saslScramSHA256: "SCRAM based authentication as specified in RFC5802.",
			saslScramSHA512: "SCRAM based authentication as specified in RFC5802.",
		}).
			Description("The SASL mechanism to use.").
			Example(saslScramSHA512),
		service.NewStringField(fieldSASLUsername).
			Description("A username to provide for PLAIN or SCRAM-* authentication.").
			Default("").
			Example("${KAFKA_USER}"),
		service.NewStringField(fieldSASLPassword).
			Description("A password to provide for PLAIN or SCRAM-* authentication.").
			Default("").
			Example("${KAFKA_PASSWORD}").
			Secret(),
	).
		Description("Specify one or more methods of SASL authentication. SASL is tried in order; if the broker supports the first mechanism, all connections will use that mechanism. If the first mechanism fails, the client will pick the first supported mechanism. If the broker does not support any client mechanisms, connections will fail.").
		Advanced().
		Optional().
		Example([]any{
			map[string]any{
				fieldSASLMech:     saslScramSHA512,
				fieldSASLUsername: "foo",
				fieldSASLPassword: "bar",
			},
		})
}

// connectionOptsFromConfig reads the connection fields into franz-go options.
func connectionOptsFromConfig(conf *service.ParsedConfig, log *service.Logger) ([]kgo.Opt, []string, error) {
	brokerList, err := conf.FieldStringList(fieldSeedBrokers)
	if err != nil {
		return nil, nil, err
	}
	seeds := splitList(brokerList)
	if len(seeds) == 0 {
		return nil, nil, fmt.Errorf("field %s: no broker address given (value %q), list at least one host:port", fieldSeedBrokers, brokerList)
	}

	clientID, err := conf.FieldString(fieldClientID)
	if err != nil {
		return nil, nil, err
	}

	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(clientID),
		kgo.WithLogger(&kgoLogger{log: log}),
	}

	tlsConf, tlsEnabled, err := conf.FieldTLSToggled(fieldTLS)
	if err != nil {
		return nil, nil, err
	}
	if tlsEnabled {
		opts = append(opts, kgo.DialTLSConfig(tlsConf))
	}

	mechs, err := saslFromConfig(conf)
	if err != nil {
		return nil, nil, err
	}
	if len(mechs) > 0 {
		opts = append(opts, kgo.SASL(mechs...))
	}
	return opts, seeds, nil
}

func saslFromConfig(conf *service.ParsedConfig) ([]sasl.Mechanism, error) {
	if !conf.Contains(fieldSASL) {
		return nil, nil
	}
	list, err := conf.FieldObjectList(fieldSASL)
	if err != nil {
		return nil, err
	}
	var mechs []sasl.Mechanism
	for i, c := range list {
		mech, err := c.FieldString(fieldSASLMech)
		if err != nil {
			return nil, err
		}
		user, err := c.FieldString(fieldSASLUsername)
		if err != nil {
			return nil, err
		}
		pass, err := c.FieldString(fieldSASLPassword)
		if err != nil {
			return nil, err
		}
		switch mech {
		case "", saslNone:
			continue
		case saslPlain:
			mechs = append(mechs, plain.Auth{User: user, Pass: pass}.AsMechanism())
		case saslScramSHA256:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())
		case saslScramSHA512:
			mechs = append(mechs, scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
		default:
			return nil, fmt.Errorf("field %s[%d].%s: unknown mechanism %q, expected one of %s, %s, %s, %s",
				fieldSASL, i, fieldSASLMech, mech, saslPlain, saslScramSHA256, saslScramSHA512, saslNone)
		}
	}
	return mechs, nil
}

// splitList expands comma separated entries and drops blanks, so that a
// single `${VAR}` holding "a,b" counts as two items.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// bytesField reads a human readable size ("1MiB", "50MB") from a string field.
func bytesField(conf *service.ParsedConfig, name string, maxValue uint64) (int32, error) {
	s, err := conf.FieldString(name)
	if err != nil {
		return 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("field %s: invalid size %q, expected a number of bytes such as 1MiB or 500KB: %w", name, s, err)
	}
	if n == 0 || n > maxValue {
		return 0, fmt.Errorf("field %s: size %q out of range, must be between 1B and %v bytes", name, s, maxValue)
	}
	return int32(n), nil
}

// connectCheck is what Connect runs on a new client, in the input and the
// output alike. It first probes the seed brokers, so that an address that
// answers but is not a Kafka broker (an HTTP server, a TLS listener dialled
// without TLS) is named within seconds instead of a bare "i/o timeout" 20s
// later; then it pings the cluster. When the brokers refuse our credentials
// it ends the process (exitOnAuthFailure): retrying cannot fix that. Other
// errors are returned for the caller to retry with back-off.
func connectCheck(ctx context.Context, cl *kgo.Client, log *service.Logger, component string) error {
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	tlsConf, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config)
	if err := checkSeedBrokers(ctx, seeds, tlsConf, probeTimeout); err != nil {
		return exitOnAuthFailure(log, component, fmt.Errorf("connect to seed brokers: %w", err))
	}
	if err := cl.Ping(ctx); err != nil {
		return exitOnAuthFailure(log, component, fmt.Errorf("ping brokers: %w", err))
	}
	return nil
}

// isAuthErr tells the errors that retrying cannot fix: SASL and TLS failures.
func isAuthErr(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) ||
		errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr)
}

// kgoLogger routes franz-go logs (broker connection failures, group changes)
// to the component logger. Its warnings and errors repeat on every retry
// (several a second while a broker is away), so each kind is logged at most
// once a minute.
type kgoLogger struct {
	log     *service.Logger
	limOnce sync.Once
	lim     *LogLimiter
}

func (l *kgoLogger) limiter() *LogLimiter {
	l.limOnce.Do(func() { l.lim = NewLogLimiter(l.log, DefaultLogEvery) })
	return l.lim
}

func (l *kgoLogger) Level() kgo.LogLevel {
	return kgo.LogLevelInfo
}

func (l *kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if l.log == nil {
		return
	}
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fmt.Fprintf(&b, " %v=%v", keyvals[i], keyvals[i+1])
	}
	switch level {
	case kgo.LogLevelError:
		l.limiter().keyed(levelError, msg, b.String())
	case kgo.LogLevelWarn:
		l.limiter().keyed(levelWarn, msg, b.String())
	case kgo.LogLevelInfo:
		l.log.Debug(b.String())
	default:
		l.log.Trace(b.String())
	}
}
