package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// selfSignedCert returns a certificate for 127.0.0.1 and writes it as PEM.
func selfSignedCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kfake"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

func TestTLS(t *testing.T) {
	cert, caPath := selfSignedCert(t)
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(1, "tls_topic"),
	)
	require.NoError(t, err)
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]

	tlsConf := fmt.Sprintf("tls:\n  enabled: true\n  root_cas_file: %s\n", caPath)
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: tls_topic\n%s", addr, tlsConf))
	connect(t, w)
	require.NoError(t, w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte("secret"))}))
	closeWithin(t, w)

	_, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ tls_topic ]\n%s", addr, tlsConf))
	connect(t, in)
	defer closeWithin(t, in)
	b, ack := readOne(t, in)
	ackOK(t, ack)
	v, _ := b[0].AsBytes()
	require.Equal(t, "secret", string(v))

	plain := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: tls_topic\n", addr))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	require.Error(t, plain.Connect(ctx), "a client without TLS cannot talk to a TLS broker")
}
