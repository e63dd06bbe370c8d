package event

import (
	"strconv"
	"strings"
)

// parseLambda discovers the fields CloudWatch gives AWS Lambda platform
// lines (START, END, REPORT, XRAY), so that the usual Lambda cost and
// duration queries work on them:
//
//	REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3	Duration: 12.34 ms	Billed Duration: 100 ms	Memory Size: 128 MB	Max Memory Used: 18 MB
//
// Durations are in milliseconds and memory sizes in bytes (1 MB = 1,000,000
// bytes), as in CloudWatch.
func parseLambda(p *Parser, line string) {
	kind, rest, ok := strings.Cut(line, " ")
	if !ok {
		return
	}
	switch kind {
	case "START", "END", "REPORT":
	case "XRAY":
		for _, part := range splitLambda(rest) {
			k, v, ok := strings.Cut(part, ": ")
			if !ok {
				continue
			}
			switch k {
			case "TraceId":
				p.addValue("@xrayTraceId", String(v))
			case "SegmentId":
				p.addValue("@xraySegmentId", String(v))
			}
		}
		return
	default:
		return
	}
	if !strings.HasPrefix(rest, "RequestId: ") {
		return
	}
	p.addValue("@type", String(kind))
	for _, part := range splitLambda(rest) {
		k, v, ok := strings.Cut(part, ": ")
		if !ok {
			continue
		}
		switch k {
		case "RequestId":
			if sp := strings.IndexByte(v, ' '); sp >= 0 { // "START RequestId: x Version: $LATEST"
				p.addValue("@requestId", String(v[:sp]))
				if ver, ok := strings.CutPrefix(v[sp+1:], "Version: "); ok {
					p.addValue("@version", String(ver))
				}
				continue
			}
			p.addValue("@requestId", String(v))
		case "Duration":
			addLambdaNumber(p, "@duration", v, " ms", 1)
		case "Billed Duration":
			addLambdaNumber(p, "@billedDuration", v, " ms", 1)
		case "Init Duration":
			addLambdaNumber(p, "@initDuration", v, " ms", 1)
		case "Restore Duration":
			addLambdaNumber(p, "@restoreDuration", v, " ms", 1)
		case "Memory Size":
			addLambdaNumber(p, "@memorySize", v, " MB", 1e6)
		case "Max Memory Used":
			addLambdaNumber(p, "@maxMemoryUsed", v, " MB", 1e6)
		}
	}
}

// splitLambda splits the tab-separated "Key: value" parts of a platform line.
func splitLambda(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\t' })
}

func addLambdaNumber(p *Parser, name, v, unit string, scale float64) {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), unit))
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		p.addValue(name, Int(i*int64(scale)))
		return
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		p.addValue(name, Float(f*scale))
	}
}
