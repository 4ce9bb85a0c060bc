package stagecmd

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	j := &jsonLines{w: &out, stage: "assess", experiment: "team/canary", iteration: 3,
		now: func() time.Time { return time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC) }}
	// A line may come in pieces, and several in one write.
	fmt.Fprint(j, "assess 3: winner v2; ")
	fmt.Fprint(j, "recommended v2\ntraffic: \"v1\"=90 -> v1=80\n")
	want := `{"time":"2026-12-05T09:00:00Z","stage":"assess","experiment":"team/canary","iteration":3,"msg":"assess 3: winner v2; recommended v2"}
{"time":"2026-12-05T09:00:00Z","stage":"assess","experiment":"team/canary","iteration":3,"msg":"traffic: \"v1\"=90 -\u003e v1=80"}
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
