package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
)

// exitFatal is the process status when a Kafka component stops the process
// because retrying cannot help (authentication refused).
const exitFatal = 1

// exitProcess ends the process (package lifecycle: main flushes its logs
// first; under go test it does nothing unless a test set an exit).
func exitProcess(code int) { lifecycle.Exit(code) }

// setExitHook replaces the exit function and returns a function restoring
// the previous one.
func setExitHook(fn func(int)) (restore func()) { return lifecycle.SetExit(fn) }

// exitOnAuthFailure ends the process with a clear message when err is an
// authentication failure (a SASL user or password the broker refuses, a TLS
// certificate that does not verify): retrying cannot fix those, and a
// pipeline that retried them forever would look alive while doing nothing.
// Other errors are left to the caller, which retries them. component names
// the plugin in the message ("kafka_franz output"). It returns err, for the
// case where the exit hook returned (tests).
//
// The kafka_franz input and output both call it on every failed connection.
func exitOnAuthFailure(log *service.Logger, component string, err error) error {
	if err == nil || !isAuthErr(err) {
		return err
	}
	if log != nil {
		log.Errorf("%s: the Kafka brokers refused our credentials, stopping: %v. "+
			"Retrying cannot fix this: check the sasl mechanism, username and password "+
			"(KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD in the shipped configs) "+
			"or the TLS settings (KAFKA_TLS)", component, err)
	}
	exitProcess(exitFatal)
	return err
}

// isTooLarge tells a record that the client or the broker refuses for its
// size: retrying it as it is can never succeed.
func isTooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// isUnknownTopicID tells a produce that failed because the client holds the
// ID of a topic that was deleted and created again (or of a broker that
// restarted without its data): franz-go keeps failing it until the topic is
// purged from the client.
func isUnknownTopicID(err error) bool {
	return errors.Is(err, kerr.UnknownTopicID)
}
