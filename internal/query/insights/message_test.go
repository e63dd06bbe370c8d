package insights

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/store"
)

// TestMessageRebuildChoice checks which queries leave @message to the
// engine: those that only show it.
func TestMessageRebuildChoice(t *testing.T) {
	for src, engine := range map[string]bool{
		`filter status >= 500`:                               true,
		`fields @timestamp, @message | sort @timestamp desc`: true,
		`display @message, route`:                            true,
		`fields @message | filter status = 200 | limit 5`:    true,
		`fields @message as m`:                               false,
		`filter @message like /error/`:                       false,
		`parse @message "* *" as a, b`:                       false,
		`sort @message`:                                      false,
		`stats count(*) by @message`:                         false,
		`fields strlen(@message) as n, @message`:             false,
		`fields route`:                                       false, // @message not read at all
	} {
		q, err := Parse(src)
		require.NoError(t, err, src)
		c, err := Compile(q, Target{Groups: []*store.Schema{accessSchema()}, Start: 1000, End: 2000}, DuckDB)
		require.NoError(t, err, src)
		require.Equal(t, engine, c.Message != nil, src)
		if c.Message != nil {
			require.Equal(t, "@message", c.Columns[c.Message.Column].Name, src)
		}
	}
	// Several groups: SQL rebuilds.
	two := accessSchema()
	two.Group, two.Table = "web", "g2"
	q, err := Parse(`fields @message`)
	require.NoError(t, err)
	c, err := Compile(q, Target{Groups: []*store.Schema{accessSchema(), two}, Start: 1000, End: 2000}, DuckDB)
	require.NoError(t, err)
	require.Nil(t, c.Message)
}
