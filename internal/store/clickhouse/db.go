// Package clickhouse is the scale-out event store: every log group is a
// MergeTree table in a ClickHouse database, partitioned by day and sorted
// by @timestamp, with one typed Nullable column per field kind, and
// metadata tables (_groups, _columns, _shapes, _batches) that every sonde
// server pointed at the database shares.
//
// It speaks the native protocol through github.com/ClickHouse/clickhouse-go/v2
// and writes SQL that runs on ClickHouse 18.16 (Debian's clickhouse-server)
// as well as on current releases.
//
// Several sonde servers may share one database. Names are chosen so that
// they agree without talking to each other: a group's table and a field
// kind's column are named after the group and field (see naming.go), a
// shape's id is a hash of its key, DDL tolerates "already exists", and the
// metadata tables are read with duplicates folded. Each server reloads the
// metadata when another server may have added to it (see Options.Refresh).
//
// With a cluster (Options.Cluster), each table is a local MergeTree table
// on every shard plus a Distributed table over them of the group's name.
// DDL runs on every host of the cluster over its own connection, so no
// ZooKeeper is needed; inserts go through the Distributed tables and wait
// for the shards (insert_distributed_sync).
package clickhouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonde-dev/sonde/internal/store"
)

// Options configure the store.
type Options struct {
	// Addrs are the host:port addresses of ClickHouse's native protocol
	// (default 127.0.0.1:9000); the driver picks the first that answers.
	Addrs []string
	// Database holds sonde's tables (default "sonde"); it is created if
	// missing.
	Database string
	// Username and Password log in (default user "default", no password).
	Username, Password string
	// Cluster names a cluster of the servers' remote_servers: sonde then
	// creates local tables on every shard and Distributed tables over them.
	// Empty means one server.
	Cluster string
	// DefaultRetentionDays applies to groups without their own (default 30).
	DefaultRetentionDays int
	// MaxShapesPerGroup caps the remembered JSON shapes of one group; events
	// of further shapes keep their raw text (default 1000).
	MaxShapesPerGroup int
	// WriteTimeout bounds one Append, DDL included (default 30s). A batch
	// that runs out of time fails with store.ErrUnavailable.
	WriteTimeout time.Duration
	// DialTimeout bounds connecting to a server (default 5s).
	DialTimeout time.Duration
	// Compression of the native protocol: "lz4", "zstd" or "none"
	// (default: none for loopback addresses, lz4 for others, as
	// clickhouse-client does).
	Compression string
	// Refresh is how old the cached metadata may get before a snapshot
	// checks whether other servers added groups, fields or shapes
	// (default 2s).
	Refresh time.Duration
	// NoBuffer says that the URL turned the buffer off (flush_interval=0):
	// the caller leaves BufferDir empty.
	NoBuffer bool
	// BufferDir holds the local write-ahead log of buffered inserts (see
	// buffer.go). Empty: every Append is its own INSERT, and is
	// acknowledged once ClickHouse confirms it.
	BufferDir string
	// BufferInterval is how long events wait in the buffer at most before
	// they are inserted (default 2s): other sonde servers see them that
	// much later. This server's queries insert what waits first.
	BufferInterval time.Duration
	// BufferRows is how many events are inserted at once at most (default
	// 1,000,000, what ClickHouse writes as one part).
	BufferRows int
	// BufferBytes bounds the log's size: when inserts fall this far behind,
	// Append refuses batches with store.ErrUnavailable (default 1 GiB).
	BufferBytes int64
	// BufferNoFsync acknowledges a batch once it is written to the log,
	// without syncing the log to disk first: it then survives a crash or
	// kill -9 of sonde, but not a crash of the machine. That is the
	// durability ClickHouse gives its own inserts, which it does not sync
	// either (fsync_after_insert is off by default); it saves the disk
	// writes of a log that is deleted seconds later.
	BufferNoFsync bool
	// SortFields names, by role, the string fields that sort a new group's
	// table within each hour: for each role the first candidate that the
	// group's first batch has is a column of the sort key, before the
	// time. sonde passes the service, route and method names of access
	// logs (red_metrics.fields): rows of one endpoint lie together, which
	// compresses their messages and latencies better and lets ClickHouse
	// skip other endpoints' granules. Empty: tables are sorted by time.
	SortFields [][]string
	// SortByTime says that the URL asked for tables sorted by time only
	// (sort=time): the caller leaves SortFields empty. Such tables take
	// less of ClickHouse's CPU to insert into and merge, and more disk.
	SortByTime bool
	// InsertThreads is how many concurrent INSERTs the buffer splits a
	// segment's events of one group into (default 2), each of at least
	// InsertChunkRows rows (default 250,000). ClickHouse works through an
	// INSERT on one thread and writes its part at the end.
	InsertThreads   int
	InsertChunkRows int
	// Logger receives the store's messages (default: none).
	Logger *slog.Logger
}

// ParseURL reads a store URL:
//
//	clickhouse://[user[:password]@]host:port[,host2:port2...]/database[?cluster=NAME]
//
// The port defaults to 9000 and the database to "sonde". Parameters:
// cluster (see Options.Cluster), compress (see Options.Compression),
// flush_interval (Options.BufferInterval; 0 turns the buffer off),
// flush_rows (Options.BufferRows), fsync (true, the default, or false:
// Options.BufferNoFsync), insert_threads (Options.InsertThreads) and sort
// (endpoint, the default, or time: Options.SortByTime).
func ParseURL(s string) (Options, error) {
	rest, ok := strings.CutPrefix(s, "clickhouse://")
	if !ok {
		return Options{}, fmt.Errorf("store URL %q: scheme must be clickhouse", s)
	}
	// net/url takes one host: parse the host list apart.
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	hosts := authority[strings.LastIndexByte(authority, '@')+1:]
	u, err := url.Parse("clickhouse://" + authority[:len(authority)-len(hosts)] + "host" + rest[end:])
	if err != nil {
		return Options{}, fmt.Errorf("store URL: %w", err)
	}
	var opts Options
	if hosts == "" {
		return Options{}, fmt.Errorf("store URL %q: no host", s)
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "9000")
		}
		opts.Addrs = append(opts.Addrs, h)
	}
	opts.Database = strings.Trim(u.Path, "/")
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	for k, v := range u.Query() {
		switch k {
		case "cluster":
			opts.Cluster = v[0]
		case "compress":
			opts.Compression = v[0]
		case "flush_interval":
			d, err := time.ParseDuration(v[0])
			if err != nil || d < 0 {
				return Options{}, fmt.Errorf("store URL %q: flush_interval %q: want a duration such as 2s, or 0 for none", s, v[0])
			}
			opts.BufferInterval = d
			opts.NoBuffer = d == 0
		case "flush_rows":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 {
				return Options{}, fmt.Errorf("store URL %q: flush_rows %q: want a positive number", s, v[0])
			}
			opts.BufferRows = n
		case "fsync":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return Options{}, fmt.Errorf("store URL %q: fsync %q: want true or false", s, v[0])
			}
			opts.BufferNoFsync = !b
		case "sort":
			switch v[0] {
			case "endpoint":
			case "time":
				opts.SortByTime = true
			default:
				return Options{}, fmt.Errorf("store URL %q: sort %q: want endpoint or time", s, v[0])
			}
		case "insert_threads":
			n, err := strconv.Atoi(v[0])
			if err != nil || n < 1 || n > 64 {
				return Options{}, fmt.Errorf("store URL %q: insert_threads %q: want a number from 1 to 64", s, v[0])
			}
			opts.InsertThreads = n
		default:
			return Options{}, fmt.Errorf("store URL %q: unknown parameter %q", s, k)
		}
	}
	if strings.ContainsAny(opts.Database, "`/\\") {
		return Options{}, fmt.Errorf("store URL %q: invalid database name", s)
	}
	return opts, nil
}

// DB is the ClickHouse event store.
type DB struct {
	opts    Options
	conn    driver.Conn // writes and DDL
	db      *sql.DB     // reads
	hosts   []host      // every host of the cluster, for DDL; the server itself without one
	version ch.ServerVersion
	// settings are the compatibility settings the server knows (see
	// compatSettings), given to every read.
	settings ch.Settings
	log      *slog.Logger

	wmu    sync.Mutex    // serializes writes and catalog edits
	bufs   columnBuffers // guarded by wmu
	closed atomic.Bool
	buf    *buffer // nil without Options.BufferDir

	cat     atomic.Pointer[catalog]
	loadMu  sync.Mutex // serializes catalog reloads
	checked atomic.Int64
	parts   atomic.Pointer[cachedParts]
}

// host is one ClickHouse server of the cluster, with its own connection.
type host struct {
	addr string
	conn driver.Conn
}

// cachedParts is what system.parts said, and when.
type cachedParts struct {
	at    time.Time
	parts map[string]partInfo
}

var _ store.Store = (*DB)(nil)

// Open connects to ClickHouse and creates the database and metadata
// tables if missing. It fails with store.ErrUnavailable (wrapped) when no
// server answers.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{"127.0.0.1:9000"}
	}
	if opts.Database == "" {
		opts.Database = "sonde"
	}
	if opts.Username == "" {
		opts.Username = "default"
	}
	if opts.DefaultRetentionDays <= 0 {
		opts.DefaultRetentionDays = 30
	}
	if opts.MaxShapesPerGroup <= 0 {
		opts.MaxShapesPerGroup = 1000
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	switch opts.Compression {
	case "":
		opts.Compression = "lz4"
		if loopback(opts.Addrs) {
			opts.Compression = "none"
		}
	case "none", "lz4", "zstd":
	default:
		return nil, fmt.Errorf("compression %q: must be none, lz4 or zstd", opts.Compression)
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BufferInterval <= 0 {
		opts.BufferInterval = 2 * time.Second
	}
	if opts.BufferRows <= 0 {
		opts.BufferRows = 1_000_000
	}
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = 1 << 30
	}
	if opts.InsertThreads <= 0 {
		opts.InsertThreads = 2
	}
	if opts.InsertChunkRows <= 0 {
		opts.InsertChunkRows = 250_000
	}
	d := &DB{opts: opts, log: opts.Logger}
	var err error
	if d.conn, err = d.dial(opts.Addrs, ""); err != nil {
		return nil, err
	}
	d.db = ch.OpenDB(d.chOptions(opts.Addrs, opts.Database))
	d.db.SetMaxIdleConns(4)
	if err := d.setup(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if opts.BufferDir != "" {
		if d.buf, err = openBuffer(d); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// loopback reports whether every address is on this machine.
func loopback(addrs []string) bool {
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			h = a
		}
		ip := net.ParseIP(h)
		if h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}

func (d *DB) chOptions(addrs []string, database string) *ch.Options {
	var comp *ch.Compression
	switch d.opts.Compression {
	case "lz4":
		comp = &ch.Compression{Method: ch.CompressionLZ4}
	case "zstd":
		comp = &ch.Compression{Method: ch.CompressionZSTD}
	}
	var settings ch.Settings
	if d.opts.Cluster != "" {
		// An insert into a Distributed table returns once the shards
		// have the rows, not when they are queued to be sent.
		settings = ch.Settings{"insert_distributed_sync": 1}
	}
	return &ch.Options{
		Settings:     settings,
		Addr:         addrs,
		Auth:         ch.Auth{Database: database, Username: d.opts.Username, Password: d.opts.Password},
		DialTimeout:  d.opts.DialTimeout,
		ReadTimeout:  5 * time.Minute,
		MaxOpenConns: 16,
		MaxIdleConns: 4,
		Compression:  comp,
	}
}

// dial opens a native connection and checks that it answers.
func (d *DB) dial(addrs []string, database string) (driver.Conn, error) {
	conn, err := ch.Open(d.chOptions(addrs, database))
	if err != nil {
		return nil, classify(fmt.Errorf("connect to clickhouse %s: %w", strings.Join(addrs, ","), err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.DialTimeout)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, classify(fmt.Errorf("connect to clickhouse %s: %w", strings.Join(addrs, ","), err))
	}
	return conn, nil
}

// setup learns the server, finds the cluster's hosts, creates the database
// and the metadata tables, and loads the catalog.
func (d *DB) setup(ctx context.Context) error {
	v, err := d.conn.ServerVersion()
	if err != nil {
		return classify(fmt.Errorf("server version: %w", err))
	}
	d.version = *v
	if err := d.findSettings(ctx); err != nil {
		return err
	}
	if d.opts.Cluster == "" {
		d.hosts = []host{{addr: d.opts.Addrs[0], conn: d.conn}}
	} else if err := d.findHosts(ctx); err != nil {
		return err
	}
	for _, h := range d.hosts {
		if err := d.exec(ctx, h, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(d.opts.Database)); err != nil {
			return classify(fmt.Errorf("create database on %s: %w", h.addr, err))
		}
	}
	for _, m := range metaTables {
		if err := d.createTable(ctx, m.name, m.columns, m.engine, "rand()"); err != nil {
			return err
		}
	}
	cat, err := d.loadCatalog(ctx)
	if err != nil {
		return err
	}
	d.cat.Store(cat)
	d.checked.Store(time.Now().UnixNano())
	addrs := make([]string, len(d.hosts))
	for i, h := range d.hosts {
		addrs[i] = h.addr
	}
	d.log.Info("Connected to ClickHouse", "version", d.version.Version.String(), "database", d.opts.Database,
		"cluster", d.opts.Cluster, "hosts", strings.Join(addrs, ","), "groups", len(cat.groups))
	return nil
}

// findHosts connects to every host of the cluster, as the server we talk
// to lists them.
func (d *DB) findHosts(ctx context.Context) error {
	rows, err := d.conn.Query(ctx, "SELECT host_address, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", d.opts.Cluster)
	if err != nil {
		return classify(fmt.Errorf("list hosts of cluster %q: %w", d.opts.Cluster, err))
	}
	var addrs []string
	for rows.Next() {
		var addr string
		var port uint16
		if err := rows.Scan(&addr, &port); err != nil {
			rows.Close()
			return fmt.Errorf("list hosts of cluster %q: %w", d.opts.Cluster, err)
		}
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		addrs = append(addrs, addr+":"+strconv.Itoa(int(port)))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("list hosts of cluster %q: %w", d.opts.Cluster, err))
	}
	if len(addrs) == 0 {
		return fmt.Errorf("cluster %q: the server does not know it (see remote_servers in its config)", d.opts.Cluster)
	}
	for _, a := range addrs {
		conn, err := d.dial([]string{a}, "")
		if err != nil {
			return fmt.Errorf("host of cluster %q: %w", d.opts.Cluster, err)
		}
		d.hosts = append(d.hosts, host{addr: a, conn: conn})
	}
	return nil
}

// Dialect implements store.Store.
func (d *DB) Dialect() string { return "clickhouse" }

// Ping implements store.Store: the server answers.
func (d *DB) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	if err := d.conn.Ping(ctx); err != nil {
		return classify(fmt.Errorf("ping clickhouse: %w", err))
	}
	return nil
}

// Close inserts what is buffered (what cannot be inserted stays in the
// log for the next Open) and closes the connections.
func (d *DB) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	if d.buf != nil {
		d.buf.shutdown()
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	var errs []error
	if d.db != nil {
		errs = append(errs, d.db.Close())
	}
	for _, h := range d.hosts {
		if h.conn != d.conn {
			errs = append(errs, h.conn.Close())
		}
	}
	if d.conn != nil {
		errs = append(errs, d.conn.Close())
	}
	return errors.Join(errs...)
}

// Stats implements store.Store from system.parts (see recentParts).
// DiskBytes is what ClickHouse keeps on its disks for sonde's tables.
func (d *DB) Stats(ctx context.Context) (store.Stats, error) {
	if d.closed.Load() {
		return store.Stats{}, store.ErrUnavailable
	}
	if err := d.syncBuffer(ctx); err != nil {
		return store.Stats{}, err
	}
	sizes, err := d.recentParts(ctx)
	if err != nil {
		return store.Stats{}, err
	}
	cat := d.cat.Load()
	st := store.Stats{Groups: len(cat.groups)}
	for _, s := range sizes {
		st.DiskBytes += s.bytes
	}
	for _, g := range cat.groups {
		st.Events += sizes[g.local].rows
	}
	return st, nil
}

// syncBuffer inserts what the buffer holds, so that a reader sees every
// acknowledged event. Parts that the insert adds make system.parts stale.
func (d *DB) syncBuffer(ctx context.Context) error {
	if d.buf == nil {
		return nil
	}
	n := d.buf.inserted()
	if err := d.buf.sync(ctx); err != nil {
		return err
	}
	if d.buf.inserted() != n {
		d.parts.Store(nil)
	}
	return nil
}

// partsMaxAge is how long system.parts is believed: the query engine asks
// for the store's size and a snapshot's time bounds on every query.
const partsMaxAge = time.Second

// recentParts returns partSizes as read at most partsMaxAge ago.
func (d *DB) recentParts(ctx context.Context) (map[string]partInfo, error) {
	if c := d.parts.Load(); c != nil && time.Since(c.at) < partsMaxAge {
		return c.parts, nil
	}
	parts, err := d.partSizes(ctx)
	if err != nil {
		return nil, err
	}
	d.parts.Store(&cachedParts{at: time.Now(), parts: parts})
	return parts, nil
}
