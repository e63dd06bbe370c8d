package statsd

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// escapeName maps a statsd name or tag key to a Prometheus name the way
// statsd_exporter does (mapper.EscapeMetricName): every character outside
// [a-zA-Z0-9_] becomes "_" (one "_" per UTF-8 character, and per byte of
// invalid UTF-8), and a leading digit gets a "_" in front.
func escapeName(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + 1)
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		sb.WriteByte('_')
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
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

// counterName is the Prometheus name of a counter: the escaped name with
// "_total", which is not doubled.
func counterName(base string) string {
	if strings.HasSuffix(base, "_total") {
		return base
	}
	return base + "_total"
}

// labelPair is one label of a series before sorting.
type labelPair struct{ name, value string }

// tagLabels turns a DogStatsD tag list ("k:v,k2:v2") and container ID into
// labels, sorted by name, as statsd_exporter does: a tag is split at its
// first ':', the key is escaped like a metric name and the value kept
// (invalid UTF-8 replaced). A tag without ':' or with an empty key or
// value is dropped and counted in bad. A key that Prometheus reserves
// ("__" prefix) or that the series' own labels use (reserved, e.g.
// "quantile" for timers) gets the prefix "exported_", as Prometheus does
// for conflicting target labels. When a key repeats, the last value wins.
// The container ID becomes the label container_id.
func tagLabels(tags, container []byte, reserved string) (ls labels.Labels, bad int) {
	var pairs []labelPair
	for len(tags) > 0 {
		tag := tags
		if i := indexByteFrom(tags, 0, ','); i >= 0 {
			tag, tags = tags[:i], tags[i+1:]
		} else {
			tags = nil
		}
		k, v, ok := cutByte(tag, ':')
		if !ok || len(k) == 0 || len(v) == 0 {
			bad++
			continue
		}
		pairs = append(pairs, labelPair{labelName(k, reserved), validUTF8(v)})
	}
	if len(container) > 0 {
		pairs = append(pairs, labelPair{labelName([]byte("container_id"), reserved), validUTF8(container)})
	}
	return sortedLabels(pairs), bad
}

// labelName escapes a tag key into a label name that does not collide with
// Prometheus' reserved names or with reserved.
func labelName(k []byte, reserved string) string {
	n := escapeName(k)
	if strings.HasPrefix(n, "__") || (reserved != "" && n == reserved) {
		n = "exported_" + n
	}
	return n
}

// sortedLabels sorts pairs by name, keeping the last of repeated names,
// and returns them as labels.
func sortedLabels(pairs []labelPair) labels.Labels {
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	b := labels.NewScratchBuilder(len(pairs))
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].name == p.name {
			continue // a later duplicate wins
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

func cutByte(b []byte, c byte) (before, after []byte, found bool) {
	if i := indexByteFrom(b, 0, c); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// pctName is the etsy spelling of a percentile threshold in a metric name:
// "90", "99_9", and "top10" for -10.
func pctName(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	s = strings.Replace(s, ".", "_", 1)
	return strings.Replace(s, "-", "top", 1)
}
