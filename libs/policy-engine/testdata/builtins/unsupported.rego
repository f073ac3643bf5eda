package envoy.authz

import rego.v1

# http.send(...) in a comment is not a call, nor is "net.lookup_ip_addr(x)" in a string.
note := "net.lookup_ip_addr(x) is not called here"

default allow := false

allow if {
	resp := http.send({"method": "GET", "url": "http://opa-sidecar/check"})
	resp.status_code == 200
}

allow if {
	addrs := net.lookup_ip_addr(input.attributes.request.http.host)
	"10.0.0.1" in addrs
}
