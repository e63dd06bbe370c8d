package load

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Report is Artillery 2's JSON report: the aggregate of the whole run and
// one entry per reporting period.
type Report struct {
	Aggregate    Period   `json:"aggregate"`
	Intermediate []Period `json:"intermediate"`
}

// stringPeriod is an intermediate entry as Artillery writes it: the period
// start as a string.
type stringPeriod struct {
	Period
	PeriodText string `json:"period"`
}

// WriteJSON writes the report in the shape of "artillery run -o"
// (Artillery writes the intermediate periods' start as a string).
func (rp *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Aggregate    Period         `json:"aggregate"`
		Intermediate []stringPeriod `json:"intermediate"`
	}{Aggregate: rp.Aggregate, Intermediate: make([]stringPeriod, len(rp.Intermediate))}
	for i, p := range rp.Intermediate {
		out.Intermediate[i] = stringPeriod{Period: p, PeriodText: strconv.FormatInt(p.Period, 10)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// UnmarshalJSON reads a period whose start is a number or a string.
func (p *Period) UnmarshalJSON(data []byte) error {
	type plain Period
	var aux struct {
		plain
		Raw json.RawMessage `json:"period"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*p = Period(aux.plain)
	if len(aux.Raw) > 0 && string(aux.Raw) != "null" {
		text := strings.Trim(string(aux.Raw), `"`)
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("period %s: %w", aux.Raw, err)
		}
		p.Period = int64(f)
	}
	return nil
}

// WriteJSONFile writes the report to a file.
func (rp *Report) WriteJSONFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := rp.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ReadReport reads a JSON report written by sonde or by Artillery 2.
// Artillery's histograms hold the same summaries as its summaries.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var rp Report
	if err := json.Unmarshal(data, &rp); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	fix := func(p *Period) {
		if len(p.Summaries) == 0 && len(p.Histograms) > 0 {
			p.Summaries = p.Histograms
		}
	}
	fix(&rp.Aggregate)
	for i := range rp.Intermediate {
		fix(&rp.Intermediate[i])
	}
	return &rp, nil
}
