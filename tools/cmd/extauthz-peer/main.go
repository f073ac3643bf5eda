// Command extauthz-peer is the benchmark peer of Warden's ext_authz decision point: an
// envoy.service.auth.v3.Authorization server built from OPA's Go rego package and
// go-control-plane's ext_authz types, the core of opa-envoy-plugin (which the module proxy does
// not serve). It builds the input document as the plugin does for the fields the benchmark's
// policy reads (attributes as protojson, parsed_path, parsed_query) and evaluates one prepared
// query per request.
//
// Usage: extauthz-peer -addr 127.0.0.1:9192 -policy policy.rego -data data.json -query data.envoy.authz.allow
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
	query rego.PreparedEvalQuery
}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	input, err := inputOf(req)
	if err != nil {
		return deny(codes.InvalidArgument, err.Error()), nil
	}
	results, err := s.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return deny(codes.PermissionDenied, err.Error()), nil
	}
	if len(results) == 1 && len(results[0].Expressions) == 1 {
		if allowed, ok := results[0].Expressions[0].Value.(bool); ok && allowed {
			return &authv3.CheckResponse{
				Status:       &status.Status{Code: int32(codes.OK)},
				HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
			}, nil
		}
	}
	return deny(codes.PermissionDenied, "denied"), nil
}

func deny(code codes.Code, message string) *authv3.CheckResponse {
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(code), Message: message},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{}},
	}
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

// inputOf builds what the plugin's envoyauth.RequestToInput builds for a request without a body.
func inputOf(req *authv3.CheckRequest) (map[string]any, error) {
	raw, err := marshal.Marshal(req)
	if err != nil {
		return nil, err
	}
	var input map[string]any
	if err := json.Unmarshal(raw, &input); err != nil {
		return nil, err
	}
	path := req.GetAttributes().GetRequest().GetHttp().GetPath()
	parsed, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", path, err)
	}
	segments := strings.Split(strings.TrimLeft(parsed.Path, "/"), "/")
	parsedPath := make([]any, len(segments))
	for i, s := range segments {
		parsedPath[i] = s
	}
	query := map[string]any{}
	for k, vs := range parsed.Query() {
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		query[k] = list
	}
	input["parsed_path"] = parsedPath
	input["parsed_query"] = query
	input["parsed_body"] = nil
	input["truncated_body"] = false
	return input, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9192", "listen address")
	policyFile := flag.String("policy", "", "Rego module")
	dataFile := flag.String("data", "", "JSON data document")
	query := flag.String("query", "data.envoy.authz.allow", "decision query")
	flag.Parse()
	module, err := os.ReadFile(*policyFile)
	if err != nil {
		log.Fatal(err)
	}
	data := map[string]any{}
	if *dataFile != "" {
		raw, err := os.ReadFile(*dataFile)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.Unmarshal(raw, &data); err != nil {
			log.Fatal(err)
		}
	}
	prepared, err := rego.New(
		rego.Query(*query),
		rego.Module(*policyFile, string(module)),
		rego.Store(inmem.NewFromObject(data)),
	).PrepareForEval(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	grpcServer := grpc.NewServer()
	authv3.RegisterAuthorizationServer(grpcServer, &server{query: prepared})
	fmt.Printf("listening %s\n", listener.Addr())
	if err := grpcServer.Serve(listener); err != nil {
		log.Fatal(err)
	}
}
