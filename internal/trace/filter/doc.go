// Package filter parses X-Ray filter expressions, the language of trace
// search and trace groups:
//
//	responsetime > 3
//	service("sessions-api") { fault }
//	edge("api", "dynamodb") { responsetime > 1 }
//	annotation.PaymentStatus = "FAILED" AND http.status = 500
//	http.url CONTAINS "/sessions" AND !service("auth")
//
// Parse returns a tree whose String writes it back as text that parses to
// the same tree. Errors name the position at fault ("1:12: ...").
// The package imports nothing from sonde; internal/trace compiles trees to
// SQL.
//
// Grammar (keywords and operators are case-insensitive):
//
//	expr     = and { ("OR" | "||") and }
//	and      = unary { ("AND" | "&&") unary }
//	unary    = ("!" | "NOT") unary | "(" expr ")" | term
//	term     = boolkw [ ("=" | "!=") ("true" | "false") ]
//	         | numkw ("=" | "!=" | "<" | "<=" | ">" | ">=") number
//	         | strkw ("=" | "!=" | "CONTAINS" | "BEGINSWITH" | "ENDSWITH") string
//	         | "annotation." key [ op value ]
//	         | "service" "(" [ string ] ")" [ "{" expr "}" ]
//	         | "id" "(" "name" ":" string [ "," "type" ":" string ] ")" [ "{" expr "}" ]
//	         | "edge" "(" string "," string ")" [ "{" expr "}" ]
//	         | "group.name" ("=" | "!=") string
//	boolkw   = ok | error | throttle | fault | partial | inferred | first | last | remote | root
//	numkw    = responsetime | duration | http.status | index | coverage
//	strkw    = http.url | http.method | http.useragent | http.clientip | user | name | type
//	         | message | availabilityzone | instance.id | resource.arn
//
// group.arn, account.id() and the rootcause.* keywords are recognized and
// refused as not supported.
package filter
