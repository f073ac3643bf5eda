# Addresses and identities: CIDR deny lists over the peer address (IPv4, IPv6, IPv4-mapped),
# net.cidr_contains_matches against named networks from data, and the SPIFFE identities of
# both ends.
package differential.network

import rego.v1

source := input.attributes.source

destination := input.attributes.destination

default peer := ""

peer := source.address.socketAddress.address

default matches := []

matches := net.cidr_contains_matches(data.networks, peer)

default source_namespace := ""

source_namespace := parts[4] if {
	parts := split(source.principal, "/")
	count(parts) == 7
	parts[3] == "ns"
}

default destination_identity := ""

destination_identity := destination.principal

blocked if net.cidr_contains("10.66.0.0/16", peer)

blocked if net.cidr_contains("fd00:bad::/32", peer)

blocked if net.cidr_contains("192.0.2.0/24", peer)

blocked if {
	some blocked_ip in data.blocked_ips
	peer == blocked_ip
}

allowed if {
	not blocked
	source_namespace in {"default", "shop"}
	endswith(destination_identity, "/sa/api")
}

allowed if {
	not blocked
	peer == ""
	input.attributes.request.http.headers["x-internal"] == "yes"
}

decision := {
	"allowed": allowed_value,
	"dynamic_metadata": {
		"matches": matches,
		"blocked": blocked_value,
		"namespace": source_namespace,
		"destination": destination_identity,
		"port": object.get(source, ["address", "socketAddress", "portValue"], 0),
	},
}

default allowed_value := false

allowed_value if allowed

default blocked_value := false

blocked_value if blocked
