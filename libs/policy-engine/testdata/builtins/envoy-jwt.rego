# A JWT role check in the style of OPA's Envoy tutorial (v0 syntax, as the tutorial writes it):
# a bearer token signed with HS256 carries a role; guests may read /people, admins may also
# create people, but not themselves. The token must be valid at the request's time.
package envoy.authz

import input.attributes.request.http as req

default allow = false

allow {
	claims.valid
	permitted
}

bearer := t {
	parts := split(req.headers.authorization, " ")
	lower(parts[0]) == "bearer"
	t := parts[1]
}

claims := {"valid": ok, "body": body} {
	[ok, _, body] := io.jwt.decode_verify(bearer, {"secret": "tutorial-secret"})
}

fresh {
	seconds := time.now_ns() / 1000000000
	claims.body.nbf <= seconds
	seconds < claims.body.exp
}

permitted {
	fresh
	req.method == "GET"
	claims.body.role == "guest"
	glob.match("/people*", [], req.path)
}

permitted {
	fresh
	req.method == "GET"
	claims.body.role == "admin"
	glob.match("/people*", [], req.path)
}

permitted {
	fresh
	req.method == "POST"
	claims.body.role == "admin"
	req.path == "/people"
	lower(input.parsed_body.firstname) != base64url.decode(claims.body.sub)
}
