# Hashes, HMACs, URL query coding, units and UUIDs over request data, each result echoed in the
# decision; the request is allowed when its signature header is the HMAC of its body.
package differential.encoding

import rego.v1

http := input.attributes.request.http

headers := http.headers

default body := ""

body := http.body

default signature := ""

signature := headers["x-signature"]

expected := crypto.hmac.sha256(body, data.hmac_key)

default query := ""

query := q if {
	parts := split(http.path, "?")
	count(parts) > 1
	q := parts[1]
}

default decoded_query := "invalid"

decoded_query := urlquery.decode_object(query)

default decoded := "invalid"

decoded := urlquery.decode(headers["x-q"])

default size := "invalid"

size := units.parse_bytes(headers["x-size"])

default amount := "invalid"

amount := units.parse(headers["x-size"])

default request_id := ""

request_id := headers["x-request-id"]

request_uuid := uuid.rfc4122(request_id)

default allowed := false

allowed if {
	signature != ""
	crypto.hmac.equal(signature, expected)
}

allowed if {
	headers["x-size"]
	is_number(size)
	size < 1048576
	startswith(http.path, "/upload")
}

decision := {
	"allowed": allowed,
	"headers": {"x-body-sha256": crypto.sha256(body), "x-request-uuid-length": format_int(count(request_uuid), 10)},
	"response_headers_to_add": [{"x-md5": crypto.md5(body)}, {"x-sha1": crypto.sha1(body)}],
	"dynamic_metadata": {
		"hmac_md5": crypto.hmac.md5(body, data.hmac_key),
		"hmac_sha1": crypto.hmac.sha1(body, data.hmac_key),
		"hmac_sha512": crypto.hmac.sha512(body, data.hmac_key),
		"stable_uuid": request_uuid == uuid.rfc4122(request_id),
		"decoded_query": decoded_query,
		"reencoded_query": urlquery.encode_object(input.parsed_query),
		"decoded": decoded,
		"encoded_path": urlquery.encode(http.path),
		"size": size,
		"amount": amount,
	},
}
