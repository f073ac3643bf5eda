# Path, query and body handling: the parts of the input document opa-envoy-plugin parses for
# the policy (parsed_path, parsed_query, parsed_body, truncated_body, http.size), echoed back in
# the decision so any difference between the two evaluators shows.
package differential.paths

import rego.v1

http := input.attributes.request.http

default decision := {"allowed": false, "http_status": 403, "body": "denied by path policy"}

decision := {
	"allowed": true,
	"headers": {"x-path-depth": format_int(count(input.parsed_path), 10), "x-first-segment": first_segment},
	"request_headers_to_remove": ["x-internal-token"],
	"dynamic_metadata": {
		"parsed_path": input.parsed_path,
		"parsed_query": input.parsed_query,
		"parsed_body": input.parsed_body,
		"truncated_body": input.truncated_body,
		"size": object.get(http, "size", -1),
		# Sorted: a set in a decision lists its members in Wasm's order, not OPA's (policy-engine
		# README, "Known differences").
		"query_keys": sort({k | some k, _ in input.parsed_query}),
	},
} if {
	not forbidden
	http.method in {"GET", "POST", "PUT", "PATCH"}
}

# concat over a sorted list, not sprintf("%v") over the set: opa-wasm's sprintf renders composite
# values its own way (policy-engine README, "Known differences").
decision := {"allowed": false, "http_status": 401, "body": sprintf("forbidden: %s", [concat(", ", sort(forbidden_reasons))])} if {
	forbidden
}

default first_segment := ""

first_segment := input.parsed_path[0] if count(input.parsed_path) > 0

forbidden if count(forbidden_reasons) > 0

forbidden_reasons contains "secret segment" if "secret" in input.parsed_path

forbidden_reasons contains "admin prefix" if startswith(http.path, "/admin")

forbidden_reasons contains "debug query" if "true" in input.parsed_query.debug

forbidden_reasons contains "dotdot segment" if ".." in input.parsed_path

forbidden_reasons contains "body role" if input.parsed_body.role == "admin"

forbidden_reasons contains "form role" if "admin" in input.parsed_body.role

forbidden_reasons contains "truncated post" if {
	http.method == "POST"
	input.truncated_body
}
