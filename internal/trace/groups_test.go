package trace

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroupsPersistAndProtectConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "groups.json")
	g, err := NewGroups([]Group{{Name: "cfg", Filter: "fault"}}, path)
	require.NoError(t, err)
	created, err := g.Put("slow", "responsetime > 3")
	require.NoError(t, err)
	require.True(t, created)
	created, err = g.Put("slow", "responsetime > 5")
	require.NoError(t, err)
	require.False(t, created)
	_, err = g.Put("cfg", "ok")
	require.ErrorIs(t, err, ErrGroupReadOnly)
	require.ErrorIs(t, g.Delete("cfg"), ErrGroupReadOnly)
	require.ErrorIs(t, g.Delete("nope"), ErrGroupNotFound)
	_, err = g.Put("bad name", "fault")
	require.ErrorIs(t, err, ErrGroupInvalid)
	_, err = g.Put("x", "fault AND")
	require.ErrorIs(t, err, ErrGroupInvalid)
	require.ErrorContains(t, err, "1:10:")
	_, err = g.Put("this-name-is-longer-than-32-characters", "fault")
	require.ErrorIs(t, err, ErrGroupInvalid)
	_, err = g.Put("gone", "ok")
	require.NoError(t, err)
	require.NoError(t, g.Delete("gone"))

	again, err := NewGroups([]Group{{Name: "cfg", Filter: "fault"}}, path)
	require.NoError(t, err)
	require.Equal(t, []Group{{Name: "cfg", Filter: "fault", Source: "config"}, {Name: "slow", Filter: "responsetime > 5", Source: "api"}}, again.List())
	f, ok := again.Lookup("slow")
	require.True(t, ok)
	require.Equal(t, "responsetime > 5", f)
}
