package insights

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// corpusCase is one entry of testdata/parse.yaml: a query that must parse
// (to canonical, when given) or fail with error.
type corpusCase struct {
	Query     string `yaml:"query"`
	Canonical string `yaml:"canonical"`
	Error     string `yaml:"error"`
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	data, err := os.ReadFile("testdata/parse.yaml")
	require.NoError(t, err)
	var cases []corpusCase
	require.NoError(t, yaml.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	return cases
}

func TestParseCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		q, err := Parse(c.Query)
		if c.Error != "" {
			if err == nil || err.Error() != c.Error {
				t.Errorf("%q: got error %v, want %s", c.Query, err, c.Error)
			}
			continue
		}
		require.NoError(t, err, c.Query)
		printed := q.String()
		if c.Canonical != "" {
			require.Equal(t, c.Canonical, printed, c.Query)
		}
		again, err := Parse(printed)
		require.NoError(t, err, "reparse of %q", printed)
		require.Equal(t, printed, again.String(), "round trip of %q", c.Query)
	}
}

// FuzzParse checks that the parser never panics and that whatever it
// accepts prints to text that parses back to the same query.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/parse.yaml")
	if err == nil {
		var cases []corpusCase
		if yaml.Unmarshal(data, &cases) == nil {
			for _, c := range cases {
				f.Add(c.Query)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		printed := q.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", src, printed, err)
		}
		if again.String() != printed {
			t.Fatalf("%q printed as %q, then as %q", src, printed, again.String())
		}
	})
}
