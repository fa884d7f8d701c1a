package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the result as a table for people: NAB's normalised
// score per profile, overall and per category; TCPD's mean F1 and cover,
// and each series'.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "detector %s (%s), %.1fs\n", r.Detector, r.Config, r.Elapsed.Seconds())
	if r.NAB != nil {
		fmt.Fprintf(w, "\nNAB: %d files, %d rows, %d windows, %d events reported; normalised score (null detector 0, perfect 100)\n",
			r.NABFiles, r.NABRows, r.NAB[0].Windows, r.NABEvents)
		row := []string{"", ""}
		for _, p := range r.NAB {
			row = append(row, p.Profile)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		row = []string{"all, threshold swept", fmt.Sprint(r.NAB[0].Windows)}
		for _, p := range r.NAB {
			row = append(row, fmt.Sprintf("%.1f", p.Normalized))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		row = []string{"threshold", ""}
		for _, p := range r.NAB {
			row = append(row, fmt.Sprintf("%.4g", p.Threshold))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		if r.NABEventScores != nil {
			row = []string{"all, its events", fmt.Sprint(r.NAB[0].Windows)}
			for _, p := range r.NABEventScores {
				row = append(row, fmt.Sprintf("%.1f", p.Normalized))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		for c := range r.NAB[0].Categories {
			cat := r.NAB[0].Categories[c]
			row = []string{cat.Category, fmt.Sprint(cat.Windows)}
			for _, p := range r.NAB {
				pc := p.Categories[c]
				if math.IsNaN(pc.Normalized) {
					row = append(row, fmt.Sprintf("(FP %.2f)", pc.Raw))
				} else {
					row = append(row, fmt.Sprintf("%.1f", pc.Normalized))
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "(the second column counts windows. NAB sweeps the threshold over the scores: \"its events\" scores the")
		fmt.Fprintln(w, " events instead, a detection at each row where the detector reported one. Categories are scored at")
		fmt.Fprintln(w, " the threshold chosen over all files; one without windows shows its false-positive cost.)")
	}
	if r.TCPD != nil {
		fmt.Fprintf(w, "\nTCPD: %d series; mean F1 %.3f (margin %d), mean cover %.3f\n", len(r.TCPD), r.TCPDF1, TCPDMargin, r.TCPDCover)
		fmt.Fprintln(tw, "\trows\tchange points\tF1\tcover\t")
		for _, s := range r.TCPD {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t\n", s.Name, s.Rows, len(s.Predicted), s.F1, s.Cover)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if r.Other > 0 {
		fmt.Fprintf(w, "\n%d other messages from the detector (neither %s nor %s) were ignored\n", r.Other, ScoreType, EventType)
	}
	return nil
}

// JSON is the result as one JSON object: "nab" holds the normalised score
// per profile, "tcpd" the mean F1 and cover, "change_points" the predicted
// change points of each TCPD series as {"name": [0-based rows]}; "nab_detail"
// and "tcpd_series" hold the rest.
func (r *Result) JSON() ([]byte, error) {
	type category struct {
		Files      int      `json:"files"`
		Windows    int      `json:"windows"`
		Raw        float64  `json:"raw"`
		Normalized *float64 `json:"normalized"` // null without windows
	}
	type profile struct {
		Threshold  float64             `json:"threshold"`
		Raw        float64             `json:"raw"`
		Normalized float64             `json:"normalized"`
		Categories map[string]category `json:"categories"`
	}
	type series struct {
		Rows  int     `json:"rows"`
		F1    float64 `json:"f1"`
		Cover float64 `json:"cover"`
	}
	out := struct {
		Detector     string             `json:"detector"`
		Config       string             `json:"config"`
		NAB          map[string]float64 `json:"nab,omitempty"`
		NABDetail    map[string]profile `json:"nab_detail,omitempty"`
		NABFiles     int                `json:"nab_files,omitempty"`
		NABRows      int                `json:"nab_rows,omitempty"`
		NABEvents    *int               `json:"nab_events,omitempty"`
		NABAtEvents  map[string]float64 `json:"nab_at_events,omitempty"`
		TCPD         map[string]float64 `json:"tcpd,omitempty"`
		TCPDSeries   map[string]series  `json:"tcpd_series,omitempty"`
		ChangePoints map[string][]int   `json:"change_points,omitempty"`
		Other        int                `json:"other_messages"`
		Seconds      float64            `json:"seconds"`
	}{Detector: r.Detector, Config: r.Config, Other: r.Other, Seconds: r.Elapsed.Seconds()}
	if r.NAB != nil {
		out.NAB, out.NABDetail = map[string]float64{}, map[string]profile{}
		out.NABFiles, out.NABRows, out.NABEvents = r.NABFiles, r.NABRows, &r.NABEvents
		out.NABAtEvents = map[string]float64{}
		for _, p := range r.NABEventScores {
			out.NABAtEvents[p.Profile] = p.Normalized
		}
		for _, p := range r.NAB {
			out.NAB[p.Profile] = p.Normalized
			d := profile{Threshold: p.Threshold, Raw: p.Raw, Normalized: p.Normalized, Categories: map[string]category{}}
			for _, c := range p.Categories {
				cc := category{Files: c.Files, Windows: c.Windows, Raw: c.Raw}
				if !math.IsNaN(c.Normalized) {
					cc.Normalized = &c.Normalized
				}
				d.Categories[c.Category] = cc
			}
			out.NABDetail[p.Profile] = d
		}
	}
	if r.TCPD != nil {
		out.TCPD = map[string]float64{"f1": r.TCPDF1, "cover": r.TCPDCover}
		out.TCPDSeries, out.ChangePoints = map[string]series{}, map[string][]int{}
		for _, s := range r.TCPD {
			out.TCPDSeries[s.Name] = series{Rows: s.Rows, F1: s.F1, Cover: s.Cover}
			out.ChangePoints[s.Name] = s.Predicted
		}
	}
	return json.MarshalIndent(out, "", "  ")
}
