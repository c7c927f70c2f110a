package main

// The v1 per-call node signature (design §3, docs/auth.md), as tests/interop/go/sig_client signs
// it: the same string to sign and key handling, copied rather than shared so that the interop
// test keeps building its client from tests/ alone. A change to the wire format changes both.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/ioutil"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
)

// oidSM2 names the SM2 curve (GM/T 0006) in a PKCS#8 key's EC parameters.
var oidSM2 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}

// v1Signer makes the four x-node-* headers afresh for every call: a new nonce and timestamp.
type v1Signer struct {
	nodeID   string
	audience string
	key      crypto.Signer
}

func stringToSign(method, audience, nodeID, timestamp, nonce string) []byte {
	return []byte(strings.Join([]string{"NODEGATE-SIG-V1", method, audience, nodeID, timestamp,
		nonce}, "\n"))
}

func (s *v1Signer) sign(data []byte) ([]byte, error) {
	switch k := s.key.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(k, data), nil // pure Ed25519, raw 64 bytes
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(data)
		return ecdsa.SignASN1(rand.Reader, k, digest[:]) // DER SEQUENCE { r, s }
	default:
		return nil, fmt.Errorf("unsupported signing key %T", s.key)
	}
}

// GetRequestMetadata signs the full method: grpc-go 1.33 passes only the service URI as uri, but
// puts the full method on the context as credentials.RequestInfo.
func (s *v1Signer) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || !strings.HasPrefix(ri.Method, "/") {
		return nil, errors.New("sign: no full method in the call's RequestInfo")
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	nonce := base64.RawURLEncoding.EncodeToString(raw)
	timestamp := strconv.FormatInt(time.Now().UnixNano()/int64(time.Millisecond), 10)
	sig, err := s.sign(stringToSign(ri.Method, s.audience, s.nodeID, timestamp, nonce))
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"x-node-id":        s.nodeID,
		"x-node-timestamp": timestamp,
		"x-node-nonce":     nonce,
		"x-node-signature": base64.RawURLEncoding.EncodeToString(sig),
	}, nil
}

// RequireTransportSecurity: signatures go over TLS, or local credentials on loopback.
func (s *v1Signer) RequireTransportSecurity() bool { return true }

// loadSigningKey reads a PKCS#8 PEM Ed25519 or ECDSA P-256 key (what `nodegate keys gen` writes).
func loadSigningKey(path string) (crypto.Signer, error) {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: expected a PKCS#8 PEM \"PRIVATE KEY\"", path)
	}
	if isSM2(block.Bytes) {
		return nil, fmt.Errorf("%s: an SM2 key; sm2-sm3 is not supported by this Go load generator "+
			"(Go's standard library has no SM2 and Debian ships no Go SM2 package): use nodegate bench", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%s: ECDSA on %s; v1 signatures use P-256", path, k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%s: %T keys cannot sign v1 calls (ed25519 or ecdsa-p256-sha256)", path, key)
	}
}

// isSM2 reports whether a PKCS#8 blob holds an EC key on the SM2 curve, which Go's parser rejects
// only as an "unknown elliptic curve".
func isSM2(der []byte) bool {
	var p8 struct {
		Version int
		Algo    pkix.AlgorithmIdentifier
		Key     []byte
	}
	if _, err := asn1.Unmarshal(der, &p8); err != nil {
		return false
	}
	if p8.Algo.Algorithm.Equal(oidSM2) {
		return true // some encoders name SM2 as the key algorithm itself
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(p8.Algo.Parameters.FullBytes, &curve); err != nil {
		return false
	}
	return curve.Equal(oidSM2)
}
