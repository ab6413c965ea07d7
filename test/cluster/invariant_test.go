package cluster

import (
	"strings"
	"testing"
)

func TestCheckNoOverlap(t *testing.T) {
	cases := []struct {
		log  string
		want string // substring of the error, "" for none
	}{
		{"START a g 100\nSTOP a g 200\nSTART b g 201\n", ""},
		{"START a g 100\nSTOP a g 200\nSTART b g 200\n", "ran on a"},
		{"START a g 100\nSTART b g 150\nSTOP a g 200\n", "ran on"},
		{"START a g 100\nSTART b h 150\n", ""},
		{"START a g 100\nSTART a g 150\n", "started g twice"},
		{"STOP a g 50\nSTART a g 100\n", ""},
	}
	for _, c := range cases {
		recs, err := ParseLog(strings.NewReader(c.log))
		if err != nil {
			t.Fatal(err)
		}
		err = CheckNoOverlap(recs)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: unexpected %v", c.log, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: got %v, want %q", c.log, err, c.want)
		}
	}
	if _, err := ParseLog(strings.NewReader("START a\n")); err == nil {
		t.Error("a bad line parsed")
	}
}
