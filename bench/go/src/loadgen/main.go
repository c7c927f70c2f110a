// Command loadgen is the benchmark suite's second load generator: a closed-loop grpc-go client for
// unary /api.DiceService/RollDie, built offline from Debian's grpc-go 1.33 in GOPATH mode like
// bench/go/src/seedserver. A figure in docs/benchmarks.md counts only if it holds with both this
// and `nodegate bench` (C++): grpc-go frames and flushes its writes differently from gRPC C++ and
// has shown different ratios.
//
// It prints one JSON line with the fields of `nodegate bench --json` that bench/run_suite.py reads
// (qps, ok, errors, errors_by_code, latency_ms{p50,p99,p99_9}, …) plus "generator": "go".
// Failed calls are data: the exit status is 0 whatever the calls returned; it is 2 when the flags,
// files or the first connection are wrong, with a message naming the flag or file.
//
// Build (see build_go() in bench/run_suite.py): protoc --go_out=plugins=grpc:$GOPATH/src
// proto/api/dice.proto (go_package "nodegate/api"), then GO111MODULE=off go build loadgen.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "nodegate/api"
)

const rollDie = "/api.DiceService/RollDie"

// codeNames spells status codes as `nodegate bench` does (grpc-go's String() says "Unauthenticated").
var codeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED"}

// headers is the repeatable -H key=value flag.
type headers []string

func (h *headers) String() string { return strings.Join(*h, ",") }

func (h *headers) Set(v string) error {
	k := strings.SplitN(v, "=", 2)
	if len(k) != 2 || k[0] == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	if strings.ToLower(k[0]) != k[0] {
		return fmt.Errorf("metadata key %q must be lower-case", k[0])
	}
	*h = append(*h, v)
	return nil
}

type options struct {
	target, method, ca, cert, key, serverName string
	plaintext                                 bool
	connections, concurrency                  int
	duration, warmup, timeout                 time.Duration
	headers                                   headers
	signKey, nodeID, audience                 string
}

// worker is one closed loop: one call in flight at a time, on one connection.
type worker struct {
	latencies []int64 // ns, calls that completed inside the measured window
	byCode    [17]int64
}

func (w *worker) loop(ctx context.Context, client pb.DiceServiceClient, o *options, measureStart,
	end time.Time) {
	req := &pb.RollDieRequest{}
	for {
		start := time.Now()
		if !start.Before(end) {
			return
		}
		callCtx, cancel := context.WithTimeout(ctx, o.timeout)
		_, err := client.RollDie(callCtx, req)
		cancel()
		done := time.Now()
		if done.Before(measureStart) || done.After(end) {
			continue // warmup, or finished after the window closed: not counted, as in nodegate bench
		}
		code := int(status.Code(err))
		if code < 0 || code > 16 {
			code = int(codes.Unknown)
		}
		w.byCode[code]++
		w.latencies = append(w.latencies, done.Sub(start).Nanoseconds())
	}
}

func transportCredentials(o *options) (credentials.TransportCredentials, error) {
	caPEM, err := ioutil.ReadFile(o.ca)
	if err != nil {
		return nil, fmt.Errorf("-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("-ca: %s holds no PEM certificate", o.ca)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: o.serverName, MinVersion: tls.VersionTLS12}
	if o.cert != "" || o.key != "" {
		if o.cert == "" || o.key == "" {
			return nil, errors.New("-cert and -key go together")
		}
		pair, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("-cert %s / -key %s: %v", o.cert, o.key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

func dialOptions(o *options) ([]grpc.DialOption, error) {
	// FailOnNonTempDialError: a refused connection is reported as such, not as a dial timeout.
	opts := []grpc.DialOption{grpc.WithBlock(), grpc.FailOnNonTempDialError(true)}
	var signer *v1Signer
	if o.signKey != "" {
		if o.nodeID == "" || o.audience == "" {
			return nil, errors.New("-sign-key needs -node-id and -audience")
		}
		key, err := loadSigningKey(o.signKey)
		if err != nil {
			return nil, fmt.Errorf("-sign-key: %v", err)
		}
		signer = &v1Signer{nodeID: o.nodeID, audience: o.audience, key: key}
		opts = append(opts, grpc.WithPerRPCCredentials(signer))
	}
	switch {
	case o.plaintext && signer != nil:
		// grpc-go sends call credentials only over a transport it calls secure; local credentials
		// count as one and match the node's local_listen (nodegate bench uses LOCAL_TCP there too).
		opts = append(opts, grpc.WithTransportCredentials(local.NewCredentials()))
	case o.plaintext:
		opts = append(opts, grpc.WithInsecure())
	default:
		creds, err := transportCredentials(o)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(creds))
	}
	return opts, nil
}

func check(o *options) error {
	switch {
	case o.target == "":
		return errors.New("-target HOST:PORT is required")
	case o.method != rollDie:
		return fmt.Errorf("-method: only %s is supported (got %q)", rollDie, o.method)
	case !o.plaintext && o.ca == "":
		return errors.New("-ca is required unless -plaintext")
	case o.connections < 1:
		return errors.New("-connections must be at least 1")
	case o.concurrency < 1:
		return errors.New("-concurrency must be at least 1")
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.warmup < 0:
		return errors.New("-warmup must not be negative")
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	return nil
}

// percentile is nearest-rank over sorted values, in milliseconds.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return float64(sorted[rank-1]) / 1e6
}

func result(o *options, workers []*worker, window time.Duration) map[string]interface{} {
	var all []int64
	var byCode [17]int64
	for _, w := range workers {
		all = append(all, w.latencies...)
		for c := range byCode {
			byCode[c] += w.byCode[c]
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var calls int64
	for _, n := range byCode {
		calls += n
	}
	ok := byCode[0]
	errs := map[string]int64{}
	for c := 1; c < len(byCode); c++ {
		if byCode[c] > 0 {
			errs[codeNames[c]] = byCode[c]
		}
	}
	var sum float64
	for _, v := range all {
		sum += float64(v)
	}
	mean := 0.0
	if len(all) > 0 {
		mean = sum / float64(len(all)) / 1e6
	}
	transport := "mtls"
	if o.plaintext {
		transport = "plaintext"
	} else if o.cert == "" {
		transport = "tls"
	}
	return map[string]interface{}{
		"generator":      "go",
		"grpc_go":        grpc.Version,
		"target":         o.target,
		"method":         o.method,
		"transport":      transport,
		"connections":    o.connections,
		"concurrency":    o.concurrency,
		"gomaxprocs":     runtime.GOMAXPROCS(0),
		"rate":           0,
		"warmup_s":       o.warmup.Seconds(),
		"window_s":       window.Seconds(),
		"calls":          calls,
		"ok":             ok,
		"errors":         calls - ok,
		"errors_by_code": errs,
		"qps":            float64(ok) / window.Seconds(),
		"latency_ms": map[string]float64{
			"min": percentile(all, 0), "mean": mean, "p50": percentile(all, 50),
			"p90": percentile(all, 90), "p99": percentile(all, 99), "p99_9": percentile(all, 99.9),
			"max": percentile(all, 100),
		},
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	o := &options{}
	flag.StringVar(&o.target, "target", "", "HOST:PORT of the server")
	flag.StringVar(&o.method, "method", rollDie, "full method (only "+rollDie+")")
	flag.StringVar(&o.ca, "ca", "", "CA bundle (PEM) that signed the server certificate")
	flag.StringVar(&o.cert, "cert", "", "client certificate (PEM), for mTLS")
	flag.StringVar(&o.key, "key", "", "client key (PEM), for mTLS")
	flag.StringVar(&o.serverName, "server-name", "localhost", "name expected on the server certificate")
	flag.BoolVar(&o.plaintext, "plaintext", false, "h2c without TLS (a node's local_listen)")
	flag.IntVar(&o.connections, "connections", 1, "separate ClientConns")
	flag.IntVar(&o.concurrency, "concurrency", 16, "closed-loop goroutines (calls in flight), spread "+
		"round-robin over the connections")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", 0, "load before the measured time, not counted")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "deadline per call")
	flag.Var(&o.headers, "H", "metadata key=value on every call (repeatable), e.g. "+
		"\"authorization=Bearer ngt_…\"")
	flag.StringVar(&o.signKey, "sign-key", "", "PKCS#8 PEM key: sign every call (v1, docs/auth.md); "+
		"ed25519 or ecdsa-p256-sha256 (Go has no SM2)")
	flag.StringVar(&o.nodeID, "node-id", "", "x-node-id of the signing node")
	flag.StringVar(&o.audience, "audience", "", "id of the node being called")
	flag.Parse()
	if flag.NArg() > 0 {
		fail("unexpected argument %q", flag.Arg(0))
	}
	if err := check(o); err != nil {
		fail("%v", err)
	}
	opts, err := dialOptions(o)
	if err != nil {
		fail("%v", err)
	}

	conns := make([]*grpc.ClientConn, o.connections)
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conns[i], err = grpc.DialContext(ctx, o.target, opts...)
		cancel()
		if err != nil {
			fail("-target %s: connection %d: %v", o.target, i+1, err)
		}
		defer conns[i].Close()
	}
	ctx := context.Background()
	if len(o.headers) > 0 {
		var kv []string
		for _, h := range o.headers {
			kv = append(kv, strings.SplitN(h, "=", 2)...)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}

	measureStart := time.Now().Add(o.warmup)
	end := measureStart.Add(o.duration)
	workers := make([]*worker, o.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{latencies: make([]int64, 0, 4096)}
		client := pb.NewDiceServiceClient(conns[i%len(conns)])
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			w.loop(ctx, client, o, measureStart, end)
		}(workers[i])
	}
	wg.Wait()
	line, err := json.Marshal(result(o, workers, o.duration))
	if err != nil {
		fail("json: %v", err)
	}
	fmt.Println(string(line))
}
