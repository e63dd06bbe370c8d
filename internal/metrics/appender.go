package metrics

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// metaAppender is the TSDB's appender that also records metadata for
// /api/v1/metadata.
type metaAppender struct {
	storage.Appender
	meta *metadataStore
}

// UpdateMetadata records m for the series' family, then hands it to the
// TSDB (which keeps it with the series and in the write-ahead log).
func (a *metaAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	a.meta.set(familyName(l.Get(labels.MetricName), m.Type), m)
	return a.Appender.UpdateMetadata(ref, l, m)
}

// metaAppenderV2 records the metadata carried by AppenderV2 appends.
type metaAppenderV2 struct {
	storage.AppenderV2
	meta *metadataStore
	// last is the metadata last recorded per family by this appender, so
	// that a batch records each family once.
	last map[string]metadata.Metadata
}

// Append implements storage.AppenderV2.
func (a *metaAppenderV2) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if md := opts.Metadata; md.Type != "" || md.Help != "" || md.Unit != "" {
		family := opts.MetricFamilyName
		if family == "" {
			family = familyName(ls.Get(labels.MetricName), md.Type)
		}
		if prev, ok := a.last[family]; !ok || prev != md {
			if a.last == nil {
				a.last = map[string]metadata.Metadata{}
			}
			// MetricFamilyName only lives for this call: copy it.
			a.last[string([]byte(family))] = md
			a.meta.set(family, md)
		}
	}
	return a.AppenderV2.Append(ref, ls, st, t, v, h, fh, opts)
}
