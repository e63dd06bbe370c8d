// Package ship is "sonde ship": it sends log lines from files or stdin to
// a sonde server's POST /api/v1/logs, in batches, and guarantees that every
// line the server confirmed is stored exactly once, across retries, lost
// answers and restarts.
//
// # Tailing
//
// Files are polled (stat every Options.Poll), so tailing works on any
// Unix file system without inotify. Each path that matches the patterns
// has a tracker that holds the path's file open and knows it by device,
// inode and a fingerprint (SHA-256 of its first 256 bytes):
//
//   - Rotation by rename (the path now names another inode, or none): the
//     old file is read to its end through the descriptor kept open, until
//     it has not grown for Options.RotateWait; its unfinished last line is
//     then sent as it is, and the path's new file is read from offset 0.
//     A rotated name that the patterns also match ("app.log*") continues
//     where the old path stopped instead of being sent again.
//   - Truncation (copytruncate: the size drops below the read position, or
//     the first bytes change): what was read is sent, and the file is read
//     again from 0 as a new generation.
//   - An unfinished last line is held until its newline arrives.
//   - Lines longer than Options.MaxLineBytes are cut, sent, and counted.
//   - Blank lines are not sent (the server skips them anyway).
//
// # Exactly once
//
// A batch is a contiguous byte range [start, end) of one file generation.
// Its key (header X-Sonde-Batch-Key) is
//
//	"ship1-" + base64url(SHA-256("sonde-ship/1\x00" + generation + dev + inode + start + end))
//
// where generation is a random id made when the generation was first seen,
// and the integers are 8-byte big-endian. The server stores a key once, so
// a batch resent after a lost answer is not stored twice. Before a batch
// is sent its range is written to the state file as pending; once the
// server confirms it (200, a duplicate, or 400 for a batch whose every
// line is invalid, which is logged and skipped), the offset advances past
// it. A restart sends a pending range again, exactly, before anything
// after it. A batch the server finds too large (413) is split in halves,
// each with its own key.
//
// # State
//
// Options.StateDir holds one JSON state file per configuration (server,
// group, stream, patterns), ship-HASH.json, next to the lock file
// ship-HASH.lock that keeps two shippers off one state. It is written to
// a temporary file, synced, renamed over the old one, and the directory
// synced. See stateFile for its fields.
//
// # Retries
//
// Network errors, 408, 429, 5xx are retried until the batch is confirmed
// or ctx ends, after an exponential backoff with jitter (MinBackoff to
// MaxBackoff), or after the server's Retry-After. 401, 403 and other 4xx
// answers stop the shipper with a ServerError: sending again cannot help,
// and the offsets stay where they were.
//
// A request body that starts with '[' is a JSON array to the server, so a
// batch whose first line starts with '[' ("[INFO] ...") is sent as a JSON
// array of strings, which the server parses line by line just the same.
package ship
