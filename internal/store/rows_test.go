package store

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
)

func TestSplitByGroup(t *testing.T) {
	evs := []event.Event{{Group: "a", Time: 1}, {Group: "b", Time: 2}, {Group: "a", Time: 3}}
	parts := SplitByGroup(evs)
	require.Len(t, parts, 2)
	require.Equal(t, []int64{1, 3}, []int64{parts[0][0].Time, parts[0][1].Time})
	require.Equal(t, "b", parts[1][0].Group)
	same := evs[:1]
	require.Equal(t, [][]event.Event{same}, SplitByGroup(same), "one group is returned as is")
	require.Nil(t, SplitByGroup(nil))
}

func TestAssembleEventRebuildsFromTheShape(t *testing.T) {
	p := event.NewParser(event.NewShapes(10), event.ParserOptions{})
	var orig event.Event
	_, err := p.Parse(`{"b":2,"a":"x"}`, 0, &orig)
	require.NoError(t, err)
	cols := []Column{{Field: "a", Kind: event.KindString, Name: "c1"}, {Field: "b", Kind: event.KindInt, Name: "c2"}}
	sch := &Schema{Fields: map[string][]Column{"a": cols[:1], "b": cols[1:]}, Shapes: map[int32]*event.Shape{7: orig.Shape}}
	byCol := map[Column]int{cols[0]: 0, cols[1]: 1}
	vals := []event.Value{event.String("x"), event.Int(2)}
	row := Row{ShapeID: 7, HasShape: true, Values: func(i int) (event.Value, bool) { return vals[i], true }}
	ev := AssembleEvent("g", sch, cols, byCol, row)
	require.Equal(t, `{"b":2,"a":"x"}`, ev.Message)
	require.Equal(t, "b", ev.Fields[0].Name, "fields in the order of the shape")

	row = Row{Message: "raw", HasMsg: true, Values: func(i int) (event.Value, bool) { return vals[i], i == 0 }}
	ev = AssembleEvent("g", sch, cols, byCol, row)
	require.Equal(t, "raw", ev.Message)
	require.Len(t, ev.Fields, 1)
}
