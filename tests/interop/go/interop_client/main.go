// interop_client: gRPC's interop client cases in Go (Debian's grpc-go 1.33), written from gRPC's
// published interop-test descriptions
// (https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md), run against
// nodegate's grpc_interop_server with mTLS. Built offline in GOPATH mode by
// tests/interop/test_grpc_interop_go.py; the grpc.testing code is generated there.
//
//	interop_client -server_host 127.0.0.1 -server_port N -ca ca.pem -cert c.pem -key c-key.pem \
//	  -test_case NAME [-server_host_override localhost] [-user_agent UA]
//
// Prints "PASS NAME" and exits 0, or "FAIL NAME: why" and exits 1.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testpb "grpc/testing"
)

const (
	initialKey      = "x-grpc-test-echo-initial"
	initialValue    = "test_initial_metadata_value"
	trailingKey     = "x-grpc-test-echo-trailing-bin"
	trailingValue   = "\x0a\x0b\x0a\x0b\x0a\x0b"
	specialMessage  = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
	perCallDeadline = 10 * time.Second
)

type failure string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		panic(failure(fmt.Sprintf(format, args...)))
	}
}

func checkOK(err error, what string) {
	check(err == nil, "%s: %v", what, err)
}

func checkCode(err error, want codes.Code, what string) *status.Status {
	s := status.Convert(err)
	check(s.Code() == want, "%s: want %v, got %v %q", what, want, s.Code(), s.Message())
	return s
}

func zeros(n int) *testpb.Payload { return &testpb.Payload{Body: make([]byte, n)} }

func isZeros(p *testpb.Payload, n int) bool {
	return p != nil && bytes.Equal(p.Body, make([]byte, n))
}

func outputRequest(sizes []int32, payload int) *testpb.StreamingOutputCallRequest {
	req := &testpb.StreamingOutputCallRequest{Payload: zeros(payload)}
	for _, s := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: s})
	}
	return req
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), perCallDeadline)
}

type cases struct {
	conn *grpc.ClientConn
	tc   testpb.TestServiceClient
}

func (c *cases) emptyUnary() {
	ctx, cancel := callCtx()
	defer cancel()
	out, err := c.tc.EmptyCall(ctx, &testpb.Empty{})
	checkOK(err, "EmptyCall")
	check(out != nil, "EmptyCall: no response")
}

func (c *cases) largeUnary() {
	ctx, cancel := callCtx()
	defer cancel()
	out, err := c.tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseSize: 314159, Payload: zeros(271828)})
	checkOK(err, "UnaryCall")
	check(isZeros(out.GetPayload(), 314159), "UnaryCall: payload is not 314159 zeros")
}

func (c *cases) clientStreaming() {
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.tc.StreamingInputCall(ctx)
	checkOK(err, "StreamingInputCall")
	for _, n := range []int{27182, 8, 1828, 45904} {
		checkOK(stream.Send(&testpb.StreamingInputCallRequest{Payload: zeros(n)}), "Send")
	}
	out, err := stream.CloseAndRecv()
	checkOK(err, "StreamingInputCall")
	check(out.AggregatedPayloadSize == 74922, "aggregated_payload_size %d != 74922",
		out.AggregatedPayloadSize)
}

func (c *cases) serverStreaming() {
	ctx, cancel := callCtx()
	defer cancel()
	sizes := []int32{31415, 9, 2653, 58979}
	stream, err := c.tc.StreamingOutputCall(ctx, outputRequest(sizes, 0))
	checkOK(err, "StreamingOutputCall")
	n := 0
	for {
		out, err := stream.Recv()
		if err == io.EOF {
			break
		}
		checkOK(err, "StreamingOutputCall")
		check(n < len(sizes), "StreamingOutputCall: more than %d responses", len(sizes))
		check(isZeros(out.Payload, int(sizes[n])), "StreamingOutputCall: response %d wrong", n)
		n++
	}
	check(n == len(sizes), "StreamingOutputCall: %d responses, want %d", n, len(sizes))
}

func (c *cases) pingPong() {
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.tc.FullDuplexCall(ctx)
	checkOK(err, "FullDuplexCall")
	requests := []int{27182, 8, 1828, 45904}
	responses := []int32{31415, 9, 2653, 58979}
	for i := range requests {
		checkOK(stream.Send(outputRequest([]int32{responses[i]}, requests[i])), "Send")
		out, err := stream.Recv()
		checkOK(err, "FullDuplexCall Recv")
		check(isZeros(out.Payload, int(responses[i])), "FullDuplexCall: response %d wrong", i)
	}
	checkOK(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	check(err == io.EOF, "FullDuplexCall: want EOF, got %v", err)
}

func (c *cases) emptyStream() {
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.tc.FullDuplexCall(ctx)
	checkOK(err, "FullDuplexCall")
	checkOK(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	check(err == io.EOF, "FullDuplexCall: want EOF, got %v", err)
}

func (c *cases) timeoutOnSleepingServer() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	stream, err := c.tc.FullDuplexCall(ctx)
	if err != nil {
		checkCode(err, codes.DeadlineExceeded, "FullDuplexCall")
		return
	}
	if err := stream.Send(outputRequest(nil, 27182)); err != nil && err != io.EOF {
		checkCode(err, codes.DeadlineExceeded, "Send")
	}
	_, err = stream.Recv()
	checkCode(err, codes.DeadlineExceeded, "FullDuplexCall")
}

func (c *cases) cancelAfterBegin() {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.tc.StreamingInputCall(ctx)
	checkOK(err, "StreamingInputCall")
	cancel()
	_, err = stream.CloseAndRecv()
	checkCode(err, codes.Canceled, "StreamingInputCall")
}

func (c *cases) cancelAfterFirstResponse() {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.tc.FullDuplexCall(ctx)
	checkOK(err, "FullDuplexCall")
	checkOK(stream.Send(outputRequest([]int32{31415}, 27182)), "Send")
	out, err := stream.Recv()
	checkOK(err, "FullDuplexCall Recv")
	check(len(out.Payload.Body) == 31415, "FullDuplexCall: first response wrong")
	cancel()
	_, err = stream.Recv()
	checkCode(err, codes.Canceled, "FullDuplexCall")
}

func (c *cases) customMetadata() {
	md := metadata.Pairs(initialKey, initialValue, trailingKey, trailingValue)
	checkEcho := func(header, trailer metadata.MD, what string) {
		check(len(header.Get(initialKey)) == 1 && header.Get(initialKey)[0] == initialValue,
			"%s: initial metadata %v", what, header.Get(initialKey))
		check(len(trailer.Get(trailingKey)) == 1 && trailer.Get(trailingKey)[0] == trailingValue,
			"%s: trailing metadata %q", what, trailer.Get(trailingKey))
	}
	{
		ctx, cancel := callCtx()
		defer cancel()
		var header, trailer metadata.MD
		out, err := c.tc.UnaryCall(metadata.NewOutgoingContext(ctx, md),
			&testpb.SimpleRequest{ResponseSize: 314159, Payload: zeros(271828)},
			grpc.Header(&header), grpc.Trailer(&trailer))
		checkOK(err, "UnaryCall")
		check(len(out.GetPayload().GetBody()) == 314159, "UnaryCall: payload size")
		checkEcho(header, trailer, "UnaryCall")
	}
	ctx, cancel := callCtx()
	defer cancel()
	stream, err := c.tc.FullDuplexCall(metadata.NewOutgoingContext(ctx, md))
	checkOK(err, "FullDuplexCall")
	checkOK(stream.Send(outputRequest([]int32{314159}, 271828)), "Send")
	out, err := stream.Recv()
	checkOK(err, "FullDuplexCall Recv")
	check(len(out.Payload.Body) == 314159, "FullDuplexCall: payload size")
	checkOK(stream.CloseSend(), "CloseSend")
	_, err = stream.Recv()
	check(err == io.EOF, "FullDuplexCall: want EOF, got %v", err)
	header, err := stream.Header()
	checkOK(err, "FullDuplexCall Header")
	checkEcho(header, stream.Trailer(), "FullDuplexCall")
}

func (c *cases) echoStatus(message string, streaming bool) {
	want := &testpb.EchoStatus{Code: 2, Message: message}
	ctx, cancel := callCtx()
	defer cancel()
	_, err := c.tc.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: want})
	s := checkCode(err, codes.Unknown, "UnaryCall")
	check(s.Message() == message, "UnaryCall: message %q, want %q", s.Message(), message)
	if !streaming {
		return
	}
	stream, err := c.tc.FullDuplexCall(ctx)
	checkOK(err, "FullDuplexCall")
	checkOK(stream.Send(&testpb.StreamingOutputCallRequest{ResponseStatus: want}), "Send")
	checkOK(stream.CloseSend(), "CloseSend")
	for err == nil {
		_, err = stream.Recv()
	}
	s = checkCode(err, codes.Unknown, "FullDuplexCall")
	check(s.Message() == message, "FullDuplexCall: message %q, want %q", s.Message(), message)
}

func (c *cases) unimplementedMethod() {
	ctx, cancel := callCtx()
	defer cancel()
	_, err := c.tc.UnimplementedCall(ctx, &testpb.Empty{})
	checkCode(err, codes.Unimplemented, "TestService/UnimplementedCall")
}

func (c *cases) unimplementedService() {
	ctx, cancel := callCtx()
	defer cancel()
	_, err := testpb.NewUnimplementedServiceClient(c.conn).UnimplementedCall(ctx, &testpb.Empty{})
	checkCode(err, codes.Unimplemented, "UnimplementedService/UnimplementedCall")
}

func main() {
	host := flag.String("server_host", "127.0.0.1", "server host")
	port := flag.Int("server_port", 0, "server port")
	override := flag.String("server_host_override", "", "name checked against the server certificate")
	caFile := flag.String("ca", "", "CA bundle (PEM)")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	testCase := flag.String("test_case", "", "interop case")
	userAgent := flag.String("user_agent", "", "user agent prefix")
	flag.Parse()

	caPEM, err := ioutil.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	serverName := *override
	if serverName == "" {
		serverName = *host
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair},
		ServerName: serverName})
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if *userAgent != "" {
		opts = append(opts, grpc.WithUserAgent(*userAgent))
	}
	conn, err := grpc.Dial(net.JoinHostPort(*host, fmt.Sprint(*port)), opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer conn.Close()
	c := &cases{conn: conn, tc: testpb.NewTestServiceClient(conn)}
	all := map[string]func(){
		"empty_unary":                 c.emptyUnary,
		"large_unary":                 c.largeUnary,
		"client_streaming":            c.clientStreaming,
		"server_streaming":            c.serverStreaming,
		"ping_pong":                   c.pingPong,
		"empty_stream":                c.emptyStream,
		"timeout_on_sleeping_server":  c.timeoutOnSleepingServer,
		"cancel_after_begin":          c.cancelAfterBegin,
		"cancel_after_first_response": c.cancelAfterFirstResponse,
		"custom_metadata":             c.customMetadata,
		"status_code_and_message":     func() { c.echoStatus("test status message", true) },
		"special_status_message":      func() { c.echoStatus(specialMessage, false) },
		"unimplemented_method":        c.unimplementedMethod,
		"unimplemented_service":       c.unimplementedService,
	}
	run, ok := all[*testCase]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown -test_case %q\n", *testCase)
		os.Exit(2)
	}
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(failure); ok {
				fmt.Printf("FAIL %s: %s\n", *testCase, f)
				os.Exit(1)
			}
			panic(r)
		}
	}()
	run()
	fmt.Printf("PASS %s\n", *testCase)
}
