package clickhouse

import (
	"context"
	"fmt"
	"maps"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// compatSettings keep what sonde's SQL relies on as ClickHouse 18.16
// behaves, on the servers whose defaults changed; a server that does not
// know a setting already behaves that way.
//
//   - cast_ipv4_ipv6_default_on_conversion_error: IPv4StringToNum and
//     IPv6StringToNum answer 0 for text that is not an address (since
//     22.x they throw), which the IP functions of the query language
//     test for.
var compatSettings = map[string]any{
	"cast_ipv4_ipv6_default_on_conversion_error": 1,
}

// QuerySettings returns the settings the store gives its queries on
// servers that know them (see compatSettings).
func QuerySettings() map[string]any { return maps.Clone(compatSettings) }

// findSettings keeps the compatibility settings the server knows.
func (d *DB) findSettings(ctx context.Context) error {
	rows, err := d.conn.Query(ctx, "SELECT name FROM system.settings WHERE has(?, name)", keys(compatSettings))
	if err != nil {
		return classify(fmt.Errorf("read settings: %w", err))
	}
	defer rows.Close()
	d.settings = ch.Settings{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("read settings: %w", err)
		}
		d.settings[name] = compatSettings[name]
	}
	return classify(rows.Err())
}

// queryContext is ctx with the settings every read runs with.
func (d *DB) queryContext(ctx context.Context, opts ...ch.QueryOption) context.Context {
	if len(d.settings) > 0 {
		opts = append(opts, ch.WithSettings(d.settings))
	}
	if len(opts) == 0 {
		return ctx
	}
	return ch.Context(ctx, opts...)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
