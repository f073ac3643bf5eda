# Token verification with every algorithm family: the bearer token is checked with each
# verify_* builtin against keys from data (PEM certificate, PEM public key, JWK, JWKS, secret)
# and with io.jwt.decode_verify's constraints; every outcome is echoed in the decision.
package differential.jwt

import rego.v1

headers := input.attributes.request.http.headers

default token := ""

token := t if {
	[scheme, t] := split(headers.authorization, " ")
	lower(scheme) == "bearer"
}

keys := data.keys

default decoded := "invalid"

decoded := io.jwt.decode(token)

# Each verification on its own: a builtin error (a malformed token or key) makes only that
# entry "error", as non-strict OPA makes the expression undefined.
default hs256 := "error"

hs256 := io.jwt.verify_hs256(token, keys.secret)

default hs384 := "error"

hs384 := io.jwt.verify_hs384(token, keys.secret)

default hs512 := "error"

hs512 := io.jwt.verify_hs512(token, keys.secret)

default rs256 := "error"

rs256 := io.jwt.verify_rs256(token, keys.rsa_cert)

default rs384 := "error"

rs384 := io.jwt.verify_rs384(token, keys.rsa_public)

default rs512 := "error"

rs512 := io.jwt.verify_rs512(token, keys.rsa_jwks)

default ps256 := "error"

ps256 := io.jwt.verify_ps256(token, keys.rsa_cert)

default ps384 := "error"

ps384 := io.jwt.verify_ps384(token, keys.rsa_jwk)

default ps512 := "error"

ps512 := io.jwt.verify_ps512(token, keys.rsa_public)

default es256 := "error"

es256 := io.jwt.verify_es256(token, keys.ec256_jwks)

default es384 := "error"

es384 := io.jwt.verify_es384(token, keys.ec384_public)

default es512 := "error"

es512 := io.jwt.verify_es512(token, keys.ec521_jwk)

verifications := {
	"hs256": hs256,
	"hs384": hs384,
	"hs512": hs512,
	"rs256": rs256,
	"rs384": rs384,
	"rs512": rs512,
	"ps256": ps256,
	"ps384": ps384,
	"ps512": ps512,
	"es256": es256,
	"es384": es384,
	"es512": es512,
}

default with_secret := "invalid"

with_secret := io.jwt.decode_verify(token, {"secret": keys.secret, "iss": "https://issuer.test", "aud": "warden"})

default with_cert := "invalid"

with_cert := io.jwt.decode_verify(token, {"cert": keys.rsa_cert, "time": time.now_ns()})

default with_jwks := "invalid"

with_jwks := io.jwt.decode_verify(token, {"cert": keys.ec256_jwks, "alg": "ES256"})

default valid := false

valid if with_secret[0]

valid if with_cert[0]

valid if with_jwks[0]

decision := {
	"allowed": valid,
	"dynamic_metadata": {
		"decoded": decoded,
		"verifications": verifications,
		"with_secret": with_secret,
		"with_cert": with_cert,
		"with_jwks": with_jwks,
	},
}
