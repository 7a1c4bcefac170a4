package kafka

import (
	"fmt"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Environment variables of the shipped configs for SASL and TLS, which the
// subcommands that reach Kafka (reset-state, verify) read as well.
const (
	EnvSASLMechanism = "KAFKA_SASL_MECHANISM"
	EnvSASLUsername  = "KAFKA_SASL_USERNAME"
	EnvSASLPassword  = "KAFKA_SASL_PASSWORD"
	EnvTLS           = "KAFKA_TLS"
)

// EnvClientOpts returns the franz-go options to reach brokers as the shipped
// configs do: SASL from KAFKA_SASL_MECHANISM (none by default),
// KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD, and TLS with the system's
// roots when KAFKA_TLS is true. The values are checked as the kafka_franz
// fields they fill are, and a bad one is named.
func EnvClientOpts(brokers []string) ([]kgo.Opt, error) {
	mech := os.Getenv(EnvSASLMechanism)
	if mech == "" {
		mech = saslNone
	}
	useTLS := false
	if v := os.Getenv(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: not true or false", EnvTLS, v)
		}
		useTLS = b
	}
	doc := map[string]any{
		fieldSeedBrokers: brokers,
		fieldTLS:         map[string]any{"enabled": useTLS},
		fieldSASL: []any{map[string]any{
			fieldSASLMech:     mech,
			fieldSASLUsername: os.Getenv(EnvSASLUsername),
			fieldSASLPassword: os.Getenv(EnvSASLPassword),
		}},
	}
	text, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	conf, err := service.NewConfigSpec().Fields(connectionFields()...).ParseYAML(string(text), nil)
	var opts []kgo.Opt
	if err == nil {
		opts, _, err = connectionOptsFromConfig(conf, nil) // franz-go logs nothing: stdout may carry data
	}
	if err != nil {
		return nil, fmt.Errorf("%s, %s, %s or %s: %w", EnvSASLMechanism, EnvSASLUsername, EnvSASLPassword, EnvTLS, err)
	}
	return opts, nil
}
