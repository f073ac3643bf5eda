// Command xds-validate checks xDS resources and an Envoy bootstrap against Envoy's own API as
// go-control-plane generates it: every resource (and every Any nested in it, however deep) must be
// a registered Envoy type, carry no field the type does not have, and pass the type's
// protoc-gen-validate rules, which are the constraints Envoy checks when it loads configuration.
// No Envoy binary can be installed on the machines Warden is developed on; this is the closest
// check of what Envoy would accept.
//
// Input on stdin, JSON:
//
//	{"resources": [{"name": "...", "type_url": "type.googleapis.com/...", "value": "<base64>"}],
//	 "bootstrap": { ...Envoy bootstrap JSON... }}
//
// Output: one line per problem; exit status 1 if there is any.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

type input struct {
	Resources []struct {
		Name    string `json:"name"`
		TypeURL string `json:"type_url"`
		Value   []byte `json:"value"`
	} `json:"resources"`
	Bootstrap json.RawMessage `json:"bootstrap"`
}

type validator interface{ ValidateAll() error }

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xds-validate: reading stdin:", err)
		os.Exit(2)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, "xds-validate: stdin is not the expected JSON:", err)
		os.Exit(2)
	}
	var problems []string
	for _, r := range in.Resources {
		any := &anypb.Any{TypeUrl: r.TypeURL, Value: r.Value}
		problems = append(problems, checkAny(r.Name, any)...)
	}
	if len(in.Bootstrap) > 0 {
		var b bootstrapv3.Bootstrap
		if err := (protojson.UnmarshalOptions{}).Unmarshal(in.Bootstrap, &b); err != nil {
			problems = append(problems, fmt.Sprintf("bootstrap: %v", err))
		} else {
			problems = append(problems, check("bootstrap", &b)...)
		}
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	fmt.Fprintf(os.Stderr, "xds-validate: %d resources, bootstrap %t, %d problems\n",
		len(in.Resources), len(in.Bootstrap) > 0, len(problems))
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func checkAny(at string, a *anypb.Any) []string {
	m, err := a.UnmarshalNew()
	if err != nil {
		return []string{fmt.Sprintf("%s: %s: %v", at, a.TypeUrl, err)}
	}
	return check(at, m)
}

// check validates one message with its generated rules, then walks its fields for unknown fields
// and for nested Anys, which the generated rules do not open.
func check(at string, m proto.Message) []string {
	var problems []string
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", at, err))
		}
	}
	return append(problems, walk(at, m.ProtoReflect())...)
}

func walk(at string, m protoreflect.Message) []string {
	var problems []string
	if len(m.GetUnknown()) > 0 {
		problems = append(problems, fmt.Sprintf("%s: fields unknown to %s", at, m.Descriptor().FullName()))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := fmt.Sprintf("%s.%s", at, fd.Name())
		visit := func(p string, child protoreflect.Message) {
			if a, ok := child.Interface().(*anypb.Any); ok {
				problems = append(problems, checkAny(p, a)...)
				return
			}
			problems = append(problems, walk(p, child)...)
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					visit(fmt.Sprintf("%s[%v]", path, k.Interface()), mv.Message())
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := 0; i < v.List().Len(); i++ {
					visit(fmt.Sprintf("%s[%d]", path, i), v.List().Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			visit(path, v.Message())
		}
		return true
	})
	return problems
}
