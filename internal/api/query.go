package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/query"
)

// queryRequest is the body of POST /api/v1/logs/query. Times are RFC 3339,
// epoch milliseconds (number or string) or relative ("now-1h").
type queryRequest struct {
	Query  string          `json:"query"`
	Start  json.RawMessage `json:"start"`
	End    json.RawMessage `json:"end"`
	Groups []string        `json:"groups"`
}

// maxQueryBody bounds the query request body.
const maxQueryBody = 1 << 20

// handleQuery runs a Logs Insights query. Without start and end it looks at
// the last hour.
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	var req queryRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxQueryBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apierr.Write(w, s.log, apierr.BadRequest("decode query request: %v", err))
		return
	}
	if req.Query == "" {
		apierr.Write(w, s.log, apierr.BadRequest(`"query" is required`))
		return
	}
	now := time.Now()
	end, err := requestTime(req.End, now, now)
	if err != nil {
		apierr.Write(w, s.log, apierr.BadRequest("end: %v", err))
		return
	}
	start, err := requestTime(req.Start, now, end.Add(-time.Hour))
	if err != nil {
		apierr.Write(w, s.log, apierr.BadRequest("start: %v", err))
		return
	}
	res, err := s.opts.Query.Run(r.Context(), query.Request{Query: req.Query, Start: start, End: end, Groups: req.Groups})
	if err != nil {
		apierr.Write(w, s.log, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, res)
}

// requestTime reads a JSON time: a number of epoch milliseconds or a string
// for query.ParseTime; def when absent.
func requestTime(raw json.RawMessage, now, def time.Time) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		ms, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid epoch milliseconds %s", n)
		}
		return time.UnixMilli(ms), nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return time.Time{}, fmt.Errorf("want a string or epoch milliseconds")
	}
	return query.ParseTime(str, now)
}
