// The seed-001 style Go DiceService server, as the bar for `make bench` (row 8): mTLS with
// RequireAndVerifyClientCert, and a unary logging interceptor that writes one line per call
// (method, duration, error) — the seed's shape, built offline from Debian's grpc-go 1.33.
//
// Build (GOPATH mode, see bench/run_suite.py): protoc --go_out=plugins=grpc:$GOPATH/src
// proto/api/dice.proto (go_package "nodegate/api"), then go build seedserver.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"os"
	"time"

	pb "nodegate/api"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

type dice struct{}

func (dice) RollDie(ctx context.Context, req *pb.RollDieRequest) (*pb.RollDieResponse, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(6))
	if err != nil {
		return nil, err
	}
	return &pb.RollDieResponse{Value: int32(n.Int64()) + 1}, nil
}

func logging(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo,
	handler grpc.UnaryHandler) (interface{}, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	log.Printf("method=%s duration=%s err=%v", info.FullMethod, time.Since(start), err)
	return resp, err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	certFile := flag.String("cert", "", "server certificate")
	keyFile := flag.String("key", "", "server key")
	caFile := flag.String("ca", "", "client CA bundle")
	logFile := flag.String("log", "", "log file (default stderr)")
	flag.Parse()

	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			log.Fatal(err)
		}
		log.SetOutput(f)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	pem, err := ioutil.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatal("no CA certificates in ", *caFile)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(creds), grpc.UnaryInterceptor(logging))
	pb.RegisterDiceServiceServer(s, dice{})
	fmt.Fprintf(os.Stderr, "listening grpc=%s\n", lis.Addr().String())
	if err := s.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
