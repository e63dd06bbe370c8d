package ship

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of Options, also used by the command's flags.
const (
	DefaultServer       = "http://127.0.0.1:4380"
	DefaultGroup        = "default"
	DefaultBatchLines   = 10000
	DefaultBatchBytes   = 4 << 20
	DefaultFlush        = time.Second
	DefaultPoll         = 250 * time.Millisecond
	DefaultMaxLineBytes = 1 << 20
	DefaultRotateWait   = 5 * time.Second
	DefaultCompression  = "zstd"
)

// Options configure a shipper. The zero value of a field means its default.
type Options struct {
	// Server is the base URL of the sonde server (DefaultServer); batches
	// go to Server + "/api/v1/logs".
	Server string
	// Group is the log group of every line (DefaultGroup).
	Group string
	// Stream is the log stream of every line. Empty means each file's
	// absolute path, and "stdin" for Reader.
	Stream string
	// Token is sent as "Authorization: Bearer TOKEN" when not empty. It is
	// never logged.
	Token string

	// StateDir holds the state file that remembers file offsets across
	// runs (DefaultStateDir). Only Files uses it.
	StateDir string
	// StartAtEnd makes Files skip what the files it finds at start-up hold
	// already, when its state does not know them: it then ships only lines
	// written afterwards. The default reads them from the beginning, as a
	// log agent's first run should, so that nothing written before the
	// shipper started is missed. Files that appear later are always read
	// from the beginning.
	StartAtEnd bool

	// BatchLines and BatchBytes bound a batch (DefaultBatchLines,
	// DefaultBatchBytes). A batch may exceed BatchBytes by its last line.
	BatchLines int
	BatchBytes int
	// Flush is the longest a line waits for its batch to fill before the
	// batch is sent anyway (DefaultFlush).
	Flush time.Duration
	// Poll is how often files are checked for new lines, rotation and
	// truncation, and glob patterns are expanded again (DefaultPoll).
	Poll time.Duration
	// MaxLineBytes caps a line (DefaultMaxLineBytes, the server's default
	// event limit). Longer lines are cut to their first MaxLineBytes bytes
	// and sent, because the start of a log line (time, level, message) is
	// what matters most; Stats.Truncated counts them. A cut JSON line is no
	// longer valid JSON, so the server rejects it and Stats.Rejected
	// counts it too.
	MaxLineBytes int
	// RotateWait is how long a file that was renamed or removed is still
	// read after it last grew, for the lines its writer adds before it
	// reopens the path (DefaultRotateWait). Only then is the file's
	// unfinished last line sent as it is, and the new file at the path
	// read.
	RotateWait time.Duration
	// Compression of request bodies: "zstd" (DefaultCompression), "gzip"
	// or "none".
	Compression string
	// RequestTimeout bounds one HTTP attempt (default 60s).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries (100ms,
	// 30s); it doubles from MinBackoff with each failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// DrainTimeout bounds the final sending of what was read when ctx ends
	// (default 10s). Lines not confirmed by then are sent again by the
	// next run.
	DrainTimeout time.Duration

	// HTTPClient sends the requests (default: a client of its own, with
	// RequestTimeout).
	HTTPClient *http.Client
	// Logger receives progress and problems (default: discarded).
	Logger *slog.Logger

	// hooks let tests observe the shipper; nil outside tests.
	hooks *hooks
}

// hooks are called by the shipper for tests.
type hooks struct {
	// polled is called after each poll of a file.
	polled func(path string)
}

// DefaultStateDir returns $XDG_STATE_HOME/sonde/ship, or
// ~/.local/state/sonde/ship when XDG_STATE_HOME is not set (its default
// per the XDG base directory specification).
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "sonde", "ship")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "sonde-ship-state")
	}
	return filepath.Join(home, ".local", "state", "sonde", "ship")
}

// withDefaults returns a copy of o with defaults filled in, or an error for
// values that cannot work.
func (o Options) withDefaults() (Options, error) {
	setDefault(&o.Server, DefaultServer)
	setDefault(&o.Group, DefaultGroup)
	setDefault(&o.StateDir, DefaultStateDir())
	setDefault(&o.BatchLines, DefaultBatchLines)
	setDefault(&o.BatchBytes, DefaultBatchBytes)
	setDefault(&o.Flush, DefaultFlush)
	setDefault(&o.Poll, DefaultPoll)
	setDefault(&o.MaxLineBytes, DefaultMaxLineBytes)
	setDefault(&o.RotateWait, DefaultRotateWait)
	setDefault(&o.Compression, DefaultCompression)
	setDefault(&o.RequestTimeout, 60*time.Second)
	setDefault(&o.MinBackoff, 100*time.Millisecond)
	setDefault(&o.MaxBackoff, 30*time.Second)
	setDefault(&o.DrainTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	u, err := url.Parse(o.Server)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("server URL %q: want http://HOST[:PORT] or https://HOST[:PORT]", o.Server))
	case u.User != nil:
		errs = append(errs, errors.New("server URL must not hold credentials: use the token"))
	}
	for _, v := range []struct {
		name string
		bad  bool
	}{
		{"batch lines", o.BatchLines < 1},
		{"batch bytes", o.BatchBytes < 1},
		{"flush interval", o.Flush < 0},
		{"poll interval", o.Poll < 0},
		{"max line bytes", o.MaxLineBytes < 1},
		{"rotate wait", o.RotateWait < 0},
		{"backoff", o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff},
	} {
		if v.bad {
			errs = append(errs, fmt.Errorf("invalid %s", v.name))
		}
	}
	switch o.Compression {
	case "zstd", "gzip", "none":
	default:
		errs = append(errs, fmt.Errorf("unknown compression %q (want zstd, gzip or none)", o.Compression))
	}
	if strings.TrimSpace(o.Token) != o.Token {
		errs = append(errs, errors.New("token has leading or trailing white space"))
	}
	return o, errors.Join(errs...)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
