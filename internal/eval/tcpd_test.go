package eval

import (
	"math"
	"testing"
)

// Hand-made cases of TCPDBench's F1 (margin 5) and cover; index 0 is added
// to every annotator's set and to the predictions.
func TestTCPDMetricsHandMade(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations []Annotation
		predicted   []int
		n           int
		f1, cover   float64
	}{
		// X = {0, 11, 30}; the union {0, 10, 20}: 0 matches 0, 10 matches 11
		// (1 away), 20 nothing (9 and 10 away): P = 2/3. Recall: a {0, 10}
		// 2/2, b {0, 10, 20} 2/3: R = 5/6. F1 = 2PR/(P+R) = (10/9)/(3/2) = 20/27.
		// Cover, predicted segments [0,11) [11,30) [30,40):
		//   a: [0,10) best with [0,11): 10/11, × 10 = 100/11; [10,40) best
		//      with [11,30): 19/30, × 30 = 19. (100/11 + 19)/40 = 0.702273.
		//   b: [0,10) 100/11; [10,20) with [11,30): 9/20, × 10 = 4.5;
		//      [20,40) with [30,40): 10/20, × 20 = 10. (100/11 + 14.5)/40 = 0.589773.
		//   mean (0.702273 + 0.589773)/2 = 0.646023.
		{"two annotators", []Annotation{{"a", []int{10}}, {"b", []int{10, 20}}}, []int{11, 30}, 40, 20.0 / 27, 0.646023},
		// A true point is matched once: 10 takes 11, 12 has nothing left.
		// P = 2/2 (0 and 11 match), R = 2/3: F1 = (4/3)/(5/3) = 0.8.
		// Cover: a's [0,10) with [0,11): 10/11, × 10; [10,12) with [0,11):
		// 1/12, with [11,20): 1/10, × 2 = 0.2; [12,20) with [11,20): 8/9, × 8.
		// (100/11 + 0.2 + 64/9)/20 = 0.820101.
		{"matched once", []Annotation{{"a", []int{10, 12}}}, []int{11}, 20, 0.8, 0.820101},
		// 6 away is beyond the margin: P = 1/2, R = 1/2, F1 = 1/2; cover:
		// [0,10) with [0,16): 10/16, × 10; [10,20) with [16,20): 4/10,
		// with [0,16): 6/20: 0.4 × 10. (6.25 + 4)/20 = 0.5125.
		{"beyond the margin", []Annotation{{"a", []int{10}}}, []int{16}, 20, 0.5, 0.5125},
		// 5 away is within: F1 1; cover: [0,10) with [0,15): 10/15 × 10;
		// [10,20) with [15,20): 5/10 × 10. (6.6667 + 5)/20 = 0.583333.
		{"at the margin", []Annotation{{"a", []int{10}}}, []int{15}, 20, 1, 0.583333},
		// Nothing marked, nothing predicted: both only {0}: 1 and 1.
		{"nothing, rightly", []Annotation{{"a", []int{}}, {"b", []int{}}}, nil, 10, 1, 1},
		// Nothing predicted where a marks 5: P = 1/1, R = (1/2 + 1)/2 = 3/4,
		// F1 = 1.5/1.75 = 6/7; cover: a's [0,5) 5/10 × 5 + [5,10) 5/10 × 5
		// = 5/10, b's 1: 0.75.
		{"predict nothing", []Annotation{{"a", []int{5}}, {"b", []int{}}}, []int{}, 10, 6.0 / 7, 0.75},
		// The order the true points are taken in decides: TCPDBench takes
		// them in the order of the Python set {3, 9, 0}, which is 0, 9, 3 (9
		// lands in slot 9 & 7 = 1 of 8). 0 takes 0; 9 takes 6 (3 away, a tie
		// with 12: the smaller); 3 finds 0 and 6 taken: P = 2/3, R = 2/3,
		// F1 = 2/3 (taken in ascending order it would be 1). Cover: [0,3)
		// with [0,6): 3/6 × 3 = 1.5; [3,9) 3/9 with either × 6 = 2; [9,20)
		// with [12,20): 8/11 × 11 = 8. 11.5/20 = 0.575.
		{"python's order", []Annotation{{"a", []int{3, 9}}}, []int{6, 12}, 20, 2.0 / 3, 0.575},
		// A prediction at 0 is the 0 already added; a repeated one counts once.
		{"zero and repeats", []Annotation{{"a", []int{5}}}, []int{0, 5, 5}, 10, 1, 1},
	} {
		s := &TCPDSeries{Name: tc.name, Values: make([]float64, tc.n), Annotations: tc.annotations}
		got := ScoreTCPD(s, tc.predicted)
		if math.Abs(got.F1-tc.f1) > 1e-6 || math.Abs(got.Cover-tc.cover) > 1e-6 {
			t.Errorf("%s: F1 %.6f, cover %.6f; want %.6f, %.6f", tc.name, got.F1, got.Cover, tc.f1, tc.cover)
		}
	}
}

// "Predict nothing" on the dev split gives TCPDBench's published figures:
// mean F1 0.647 and cover 0.569 (issue 10).
func TestTCPDPredictNothingOnTheDevSplit(t *testing.T) {
	series, err := ReadTCPD(sharedData(t, "tcpd-dev"))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 16 {
		t.Fatalf("%d series, want 16", len(series))
	}
	var scores []TCPDScore
	for _, s := range series {
		scores = append(scores, ScoreTCPD(s, nil))
	}
	f1, cover := tcpdSummary(scores)
	if math.Round(f1*1000) != 647 || math.Round(cover*1000) != 569 {
		t.Errorf("predict nothing: mean F1 %.4f, cover %.4f; want 0.647, 0.569", f1, cover)
	}
}
