package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/netip"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// The scalar functions the query language's IP functions compile to. DuckDB
// has no built-in IP type here (its inet extension is not bundled), so they
// are written with net/netip; registering them on one connection makes them
// visible to all connections of the database.
//
//	sonde_ip_valid(text, version)          version 4, 6 or 0 for either
//	sonde_ip_in_subnet(text, cidr, version)
func registerFunctions(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for name, f := range map[string]duckdb.ScalarFunc{
		"sonde_ip_valid":     ipValid{},
		"sonde_ip_in_subnet": ipInSubnet{},
	} {
		if err := duckdb.RegisterScalarUDF(conn, name, f); err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
	}
	return nil
}

func typeInfo(t duckdb.Type) duckdb.TypeInfo {
	ti, err := duckdb.NewTypeInfo(t)
	if err != nil {
		panic(fmt.Sprintf("BUG: type info %v: %v", t, err))
	}
	return ti
}

// ipVersionOK reports whether a matches the version asked for (0: any).
func ipVersionOK(a netip.Addr, version int32) bool {
	switch version {
	case 4:
		return a.Is4()
	case 6:
		return a.Is6()
	}
	return true
}

type ipValid struct{}

func (ipValid) Config() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{
		InputTypeInfos: []duckdb.TypeInfo{typeInfo(duckdb.TYPE_VARCHAR), typeInfo(duckdb.TYPE_INTEGER)},
		ResultTypeInfo: typeInfo(duckdb.TYPE_BOOLEAN),
	}
}

func (ipValid) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(v []driver.Value) (any, error) {
		s, _ := v[0].(string)
		version, _ := v[1].(int32)
		a, err := netip.ParseAddr(s)
		return err == nil && a.Zone() == "" && ipVersionOK(a, version), nil
	}}
}

type ipInSubnet struct{}

func (ipInSubnet) Config() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{
		InputTypeInfos: []duckdb.TypeInfo{typeInfo(duckdb.TYPE_VARCHAR), typeInfo(duckdb.TYPE_VARCHAR), typeInfo(duckdb.TYPE_INTEGER)},
		ResultTypeInfo: typeInfo(duckdb.TYPE_BOOLEAN),
	}
}

func (ipInSubnet) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(v []driver.Value) (any, error) {
		s, _ := v[0].(string)
		cidr, _ := v[1].(string)
		version, _ := v[2].(int32)
		a, err := netip.ParseAddr(s)
		if err != nil || !ipVersionOK(a, version) {
			return false, nil
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return false, nil
		}
		return p.Contains(a.Unmap()) || p.Contains(a), nil
	}}
}
