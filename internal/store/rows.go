package store

import "github.com/sonde-dev/sonde/internal/event"

// SplitByGroup returns the events of each group, in order of first
// appearance, for stores that write one table per group. The common
// single-group batch is returned without copying.
func SplitByGroup(events []event.Event) [][]event.Event {
	if len(events) == 0 {
		return nil
	}
	first := events[0].Group
	same := true
	for i := range events {
		if events[i].Group != first {
			same = false
			break
		}
	}
	if same {
		return [][]event.Event{events}
	}
	index := map[string]int{}
	var parts [][]event.Event
	for i := range events {
		k, ok := index[events[i].Group]
		if !ok {
			k = len(parts)
			index[events[i].Group] = k
			parts = append(parts, nil)
		}
		parts[k] = append(parts[k], events[i])
	}
	return parts
}

// Row is one scanned row of a group table, for Scan implementations:
// the system columns and the field columns (in Columns order, nil where
// NULL), decoded by the store into field values.
type Row struct {
	Time    int64
	Stream  string
	Message string
	HasMsg  bool  // the msg column was not NULL
	ShapeID int32 // valid when HasShape
	// HasShape is set when the shape column was not NULL.
	HasShape bool
	// Values holds the decoded value of each column of Columns, ok false
	// where the column was NULL.
	Values func(i int) (event.Value, bool)
}

// AssembleEvent turns a Row into the event Scan hands out: fields in slot
// order when the row's shape is known (so that @message rebuilds), else in
// column order, and @message rebuilt or raw.
func AssembleEvent(group string, sch *Schema, cols []Column, byCol map[Column]int, r Row) event.Event {
	ev := event.Event{Group: group, Time: r.Time, Stream: r.Stream}
	var shape *event.Shape
	if r.HasShape {
		shape = sch.Shapes[r.ShapeID]
	}
	if shape != nil && !r.HasMsg {
		for _, p := range shape.Pieces {
			if !p.Slot() {
				continue
			}
			for _, c := range sch.Fields[p.Field] {
				if c.Kind == p.Kind {
					v, _ := r.Values(byCol[c])
					ev.Fields = append(ev.Fields, event.Field{Name: p.Field, Value: v})
					break
				}
			}
		}
		ev.Shape = shape
		ev.Message = ev.Rebuild()
		return ev
	}
	for i, c := range cols {
		if v, ok := r.Values(i); ok {
			ev.Fields = append(ev.Fields, event.Field{Name: c.Field, Value: v})
		}
	}
	ev.Message = r.Message
	return ev
}
