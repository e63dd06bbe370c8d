package graphite

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// metricName maps a Graphite path to a Prometheus metric name the way
// graphite_exporter does without a mapping file: every character outside
// [a-zA-Z0-9_:] becomes "_" (one per UTF-8 character, and per byte of
// invalid UTF-8). A leading digit, which graphite_exporter would pass on
// to an invalid name, gets a "_" in front.
func metricName(path []byte) string {
	return escape(path, true)
}

// labelName maps a Graphite tag name to a label name: like metricName but
// ':' becomes "_" too, and names Prometheus reserves ("__" prefix) get the
// prefix "exported_", as Prometheus does for clashing target labels.
func labelName(tag []byte) string {
	n := escape(tag, false)
	if strings.HasPrefix(n, "__") {
		n = "exported_" + n
	}
	return n
}

func escape(b []byte, colon bool) string {
	var sb strings.Builder
	sb.Grow(len(b) + 1)
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		sb.WriteByte('_')
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', colon && c == ':':
			sb.WriteByte(c)
			i++
		case c < utf8.RuneSelf:
			sb.WriteByte('_')
			i++
		default:
			_, n := utf8.DecodeRune(b[i:])
			sb.WriteByte('_')
			i += n
		}
	}
	return sb.String()
}

// seriesLabels returns the labels of a sample: __name__ from the path, and
// one label per tag, sorted; when a tag repeats, the last value wins, as
// in carbon. Tag values are kept (invalid UTF-8 replaced).
func seriesLabels(s *Sample) labels.Labels {
	type pair struct{ name, value string }
	pairs := []pair{{labels.MetricName, metricName(s.Path)}}
	for tags := s.Tags; len(tags) > 0; {
		tag := tags
		if i := bytes.IndexByte(tags, ';'); i >= 0 {
			tag, tags = tags[:i], tags[i+1:]
		} else {
			tags = nil
		}
		eq := bytes.IndexByte(tag, '=')
		pairs = append(pairs, pair{labelName(tag[:eq]), validUTF8(tag[eq+1:])})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	b := labels.NewScratchBuilder(len(pairs))
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].name == p.name {
			continue
		}
		b.Add(p.name, p.value)
	}
	return b.Labels()
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
