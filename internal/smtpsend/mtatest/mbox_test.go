package mtatest

import "testing"

// TestParseMboxWhileWritten: a message Exim is still appending (not yet
// ended by its blank line) is left for the next reading, not an error.
func TestParseMboxWhileWritten(t *testing.T) {
	done := "From a@x Mon Dec  7 10:00:00 2026\nSubject: one\n\nbody one\n\n" +
		"From a@x Mon Dec  7 10:00:01 2026\nSubject: two\n\nbody two\n\n"
	msgs, err := parseMbox([]byte(done + "From a@x Mon Dec  7 10:00:02 2026\nSubj"))
	if err != nil || len(msgs) != 2 || msgs[1].Subject != "two" {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	msgs, err = parseMbox([]byte(done))
	if err != nil || len(msgs) != 2 || msgs[0].Body != "body one\n" {
		t.Fatalf("complete mbox: %d messages %v, first body %q", len(msgs), err, msgs[0].Body)
	}
}
