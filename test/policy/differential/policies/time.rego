# Time builtins at the request's time: a business-hours window in the caller's time zone, a
# token lifetime from headers, calendar arithmetic on a time from a header, and every time.*
# result echoed in the decision.
package differential.time

import rego.v1

headers := input.attributes.request.http.headers

now := time.now_ns()

default zone := "UTC"

zone := headers["x-timezone"]

default clock := "invalid"

clock := time.clock([now, zone])

default weekday := "invalid"

weekday := time.weekday([now, zone])

default date := "invalid"

date := time.date([now, zone])

default next_month := "invalid"

next_month := time.add_date(now, 0, 1, 0)

default ttl := "invalid"

ttl := time.parse_duration_ns(headers["x-ttl"])

default not_before := "invalid"

not_before := time.parse_rfc3339_ns(headers["x-not-before"])

default day := "invalid"

day := time.parse_ns("2006-01-02", headers["x-day"])

default stamp := "invalid"

stamp := {
	"clock": time.clock([not_before, zone]),
	"weekday": time.weekday([not_before, zone]),
	"date": time.date([not_before, zone]),
	# A nanosecond count reaches a host builtin as a double (libs/policy-engine/README.md,
	# "Known differences"), so the shifted instant is compared to the second.
	"later": [time.date(time.add_date(not_before, 1, -14, 45)), time.clock(time.add_date(not_before, 1, -14, 45))],
	"utc_date": time.date(not_before),
}

default since := "invalid"

since := time.diff(now, not_before)

in_hours if {
	weekday in {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}
	clock[0] >= 8
	clock[0] < 18
}

fresh if {
	is_number(ttl)
	is_number(not_before)
	now >= not_before
	now < not_before + ttl
}

default allowed := false

allowed if {
	in_hours
	fresh
}

allowed if headers["x-emergency"] == "break-glass"

decision := {
	"allowed": allowed,
	"dynamic_metadata": {
		"now": now,
		"clock": clock,
		"weekday": weekday,
		"date": date,
		"next_month": next_month,
		"ttl": ttl,
		"not_before": not_before,
		"day": day,
		"since": since,
		"stamp": stamp,
	},
}
