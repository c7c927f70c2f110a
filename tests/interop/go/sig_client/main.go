// Command sig_client calls a nodegate node from Go: mTLS with the client's certificate and,
// with -sign-key, a v1 per-call node signature on every call, written from the wire format in
// docs/auth.md (design §3) with Go's standard library only (crypto/ecdsa, crypto/ed25519).
//
// The signature needs the full method path. grpc-go 1.33 passes PerRPCCredentials only the
// service URI ("https://host/pkg.Service"), but it attaches the full method ("/pkg.Service/Method")
// to the context as credentials.RequestInfo, so GetRequestMetadata signs exactly the :path
// that goes on the wire.
//
// Output, one line: "whoami kind=K id=I roles=R authenticators=A node=N", or
// "dice value=V"; on an RPC error "error code=CODE message=MSG" and exit status 1.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "nodegate/api"
	ngv1 "nodegate/v1"
)

// signer makes the four x-node-* headers for one call.
type signer struct {
	nodeID   string
	audience string
	key      crypto.Signer
	tamper   string // "", "signature" (flip one bit) or "method" (sign another method's path)
}

// StringToSign is the v1 string: six fields joined by "\n", no trailing newline.
func StringToSign(method, audience, nodeID, timestamp, nonce string) []byte {
	return []byte(strings.Join([]string{"NODEGATE-SIG-V1", method, audience, nodeID, timestamp,
		nonce}, "\n"))
}

func (s *signer) sign(data []byte) ([]byte, error) {
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

func (s *signer) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || !strings.HasPrefix(ri.Method, "/") {
		return nil, errors.New("sign: no full method in the call's RequestInfo")
	}
	method := ri.Method
	if s.tamper == "method" {
		method = "/api.DiceService/RollDie"
		if ri.Method == method {
			method = "/nodegate.v1.Identity/WhoAmI"
		}
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	nonce := base64.RawURLEncoding.EncodeToString(raw)
	timestamp := strconv.FormatInt(time.Now().UnixNano()/int64(time.Millisecond), 10)
	sig, err := s.sign(StringToSign(method, s.audience, s.nodeID, timestamp, nonce))
	if err != nil {
		return nil, err
	}
	if s.tamper == "signature" {
		sig[len(sig)/2] ^= 0x01
	}
	return map[string]string{
		"x-node-id":        s.nodeID,
		"x-node-timestamp": timestamp,
		"x-node-nonce":     nonce,
		"x-node-signature": base64.RawURLEncoding.EncodeToString(sig),
	}, nil
}

// RequireTransportSecurity: signatures are only sent over TLS.
func (s *signer) RequireTransportSecurity() bool { return true }

func loadSigningKey(path string) (crypto.Signer, error) {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: expected a PKCS#8 PEM \"PRIVATE KEY\"", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T cannot sign", path, key)
	}
	return s, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sig_client: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	target := flag.String("target", "", "host:port of the node")
	caFile := flag.String("ca", "", "CA bundle (PEM)")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	serverName := flag.String("server-name", "localhost", "name expected on the server certificate")
	signKey := flag.String("sign-key", "", "PKCS#8 PEM signing key (enables v1 signatures)")
	nodeID := flag.String("node-id", "", "x-node-id")
	audience := flag.String("audience", "", "id of the node being called")
	tamper := flag.String("tamper", "", "\"\", \"signature\" or \"method\"")
	call := flag.String("call", "whoami", "whoami | dice")
	userAgent := flag.String("user-agent", "", "prefix of the user agent (to find the call in a log)")
	knownAnswer := flag.Bool("known-answer", false, "print the docs/auth.md example's digest and "+
		"Ed25519 signature as this client computes them, and exit")
	flag.Parse()
	if *knownAnswer {
		printKnownAnswer()
		return
	}

	caPEM, err := ioutil.ReadFile(*caFile)
	if err != nil {
		fail("ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		fail("ca: %s holds no PEM certificate", *caFile)
	}
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fail("client key pair: %v", err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig))}
	if *userAgent != "" {
		opts = append(opts, grpc.WithUserAgent(*userAgent))
	}
	if *signKey != "" {
		key, err := loadSigningKey(*signKey)
		if err != nil {
			fail("sign-key: %v", err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(&signer{nodeID: *nodeID, audience: *audience,
			key: key, tamper: *tamper}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, *target, opts...)
	if err != nil {
		fail("dial %s: %v", *target, err)
	}
	defer conn.Close()

	switch *call {
	case "whoami":
		r, err := ngv1.NewIdentityClient(conn).WhoAmI(ctx, &ngv1.WhoAmIRequest{})
		if err != nil {
			rpcFailed(err)
		}
		fmt.Printf("whoami kind=%s id=%s roles=%s authenticators=%s node=%s\n", r.Kind, r.Id,
			strings.Join(r.Roles, ","), strings.Join(r.Authenticators, ","), r.NodeId)
	case "dice":
		r, err := pb.NewDiceServiceClient(conn).RollDie(ctx, &pb.RollDieRequest{})
		if err != nil {
			rpcFailed(err)
		}
		fmt.Printf("dice value=%d\n", r.Value)
	default:
		fail("-call: whoami | dice")
	}
}

// printKnownAnswer signs the example of docs/auth.md ("String to sign") with the RFC 8032 test 1
// seed through the same code path as a call, so the test can compare with the documented values.
func printKnownAnswer() {
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	s := &signer{nodeID: "dev-client", audience: "dev-node", key: ed25519.NewKeyFromSeed(seed)}
	data := StringToSign("/api.DiceService/RollDie", s.audience, s.nodeID, "1763891234567",
		base64.RawURLEncoding.EncodeToString([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}))
	sig, err := s.sign(data)
	if err != nil {
		fail("known answer: %v", err)
	}
	digest := sha256.Sum256(data)
	fmt.Printf("length=%d\nsha256=%x\nsignature=%s\n", len(data), digest,
		base64.RawURLEncoding.EncodeToString(sig))
}

func rpcFailed(err error) {
	st := status.Convert(err)
	fmt.Printf("error code=%s message=%s\n", st.Code(), st.Message())
	os.Exit(1)
}
