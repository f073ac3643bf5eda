package warden.header

import rego.v1

default allow := false

allow if input.attributes.request.http.headers["x-team"] == "payments"
