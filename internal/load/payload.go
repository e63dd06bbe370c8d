package load

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// payload is one loaded config.payload entry.
type payload struct {
	fields   []string
	rows     [][]any
	sequence bool
	// loadAll exposes the whole file as the variable name.
	loadAll bool
	name    string
	all     []any
}

// loadPayloads reads config.payload (a mapping or a list of mappings).
func loadPayloads(v any, dir string) ([]*payload, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil, fmt.Errorf("config.payload: must be a mapping or a list")
	}
	var out []*payload
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config.payload[%d]: must be a mapping", i)
		}
		p, err := loadPayload(m, dir)
		if err != nil {
			return nil, fmt.Errorf("config.payload[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func loadPayload(m map[string]any, dir string) (*payload, error) {
	path, _ := m["path"].(string)
	if path == "" {
		return nil, fmt.Errorf("path: missing")
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open payload: %w", err)
	}
	defer f.Close()
	p := &payload{}
	if fl, ok := m["fields"].([]any); ok {
		for _, x := range fl {
			p.fields = append(p.fields, fmt.Sprint(x))
		}
	}
	order, _ := m["order"].(string)
	switch order {
	case "", "random":
	case "sequence":
		p.sequence = true
	default:
		return nil, fmt.Errorf("order: %q is neither random nor sequence", order)
	}
	p.loadAll = truthy(m["loadAll"])
	p.name, _ = m["name"].(string)
	if p.loadAll && p.name == "" {
		return nil, fmt.Errorf("loadAll needs a name")
	}
	cast := true
	if c, ok := m["cast"]; ok {
		cast = truthy(c)
	}
	skipEmpty := true
	if c, ok := m["skipEmptyLines"]; ok {
		skipEmpty = truthy(c)
	}
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	if d, ok := m["delimiter"].(string); ok && d != "" {
		r.Comma = []rune(d)[0]
	}
	first := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read payload %s: %w", path, err)
		}
		if first {
			first = false
			if truthy(m["skipHeader"]) {
				continue
			}
		}
		if skipEmpty && (len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "")) {
			continue
		}
		row := make([]any, len(rec))
		for i, s := range rec {
			row[i] = castCSV(s, cast)
		}
		p.rows = append(p.rows, row)
	}
	if p.loadAll {
		for _, row := range p.rows {
			if len(p.fields) == 0 {
				p.all = append(p.all, row)
				continue
			}
			obj := make(map[string]any, len(p.fields))
			for i, f := range p.fields {
				if i < len(row) {
					obj[f] = row[i]
				}
			}
			p.all = append(p.all, obj)
		}
		if p.all == nil {
			p.all = []any{}
		}
	}
	return p, nil
}

// castCSV turns numeric cells into numbers, as csv-parse's cast option
// (Artillery's default) does: "042" becomes 42, "4.5" 4.5.
func castCSV(s string, cast bool) any {
	if !cast || s == "" {
		return s
	}
	if strings.ContainsAny(s, "xXnNiI_") {
		return s // hexadecimal, Inf, NaN: left as text
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

// bind sets one row's fields on a new virtual user. Rows are picked once per
// virtual user: at random, or round-robin with wrap for order: sequence.
// next is the run's sequence position of this payload; bind must only be
// called from the scheduler goroutine.
func (p *payload) bind(v *Vars, rng *rand.Rand, next *int) {
	if p.loadAll {
		return // exposed through the shared variables
	}
	if len(p.rows) == 0 {
		return
	}
	var row []any
	if p.sequence {
		row = p.rows[*next%len(p.rows)]
		*next = (*next + 1) % len(p.rows)
	} else {
		row = p.rows[rng.IntN(len(p.rows))]
	}
	for i, f := range p.fields {
		if i < len(row) {
			v.set(f, row[i])
		}
	}
}
