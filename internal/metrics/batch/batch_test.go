package batch

import (
	"errors"
	"testing"

	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// committer records its commits; fail makes the next commit fail.
type committer struct {
	id      int
	commits *[]int
	fail    *bool
}

func (c *committer) Commit() error {
	*c.commits = append(*c.commits, c.id)
	if *c.fail {
		*c.fail = false
		return errors.New("disk full")
	}
	return nil
}

// TestWriter checks where a flush's appenders are cut and committed, and
// the counts of what was written and refused.
func TestWriter(t *testing.T) {
	var commits []int
	fail := false
	opened := 0
	w := New(func() *committer { opened++; return &committer{id: opened, commits: &commits, fail: &fail} }, "commit")
	require.NoError(t, w.Commit(), "nothing started, nothing committed")
	require.Empty(t, commits)

	first := w.Appender()
	for i := 0; i < Size; i++ {
		require.Same(t, first, w.Appender(), "sample %d", i)
		w.Took()
	}
	require.Empty(t, commits, "a full appender is committed only when the next one is asked for")
	second := w.Appender()
	require.NotSame(t, first, second)
	require.Equal(t, []int{1}, commits)
	w.Took()
	w.Refused(Reason(storage.ErrOutOfOrderSample, "error"))
	w.Refused(Reason(errors.New("closed"), "error"))
	fail = true
	require.EqualError(t, w.Commit(), "disk full")
	require.Equal(t, []int{1, 2}, commits)
	require.Equal(t, Size, w.Written())
	require.Equal(t, map[string]int{"out_of_order": 1, "error": 1, "commit": 1}, w.Failed())

	w.Appender()
	w.Took()
	require.EqualError(t, w.Commit(), "disk full", "the first commit error of the flush")
	require.Equal(t, Size+1, w.Written())
}
