package stagecmd

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// jsonLines turns the stage's log, one decision a line, into one JSON object a line for a
// log pipeline: the time, the stage, the experiment, the iteration (iterate and assess)
// and the line as msg.
type jsonLines struct {
	w          io.Writer
	stage      string
	experiment string // namespace/name
	iteration  int
	now        func() time.Time
	mu         sync.Mutex
	buf        []byte
}

type jsonLine struct {
	Time       string `json:"time"`
	Stage      string `json:"stage"`
	Experiment string `json:"experiment"`
	Iteration  int    `json:"iteration,omitempty"`
	Msg        string `json:"msg"`
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(j.buf[:i])
		j.buf = j.buf[i+1:]
		b, err := json.Marshal(jsonLine{Time: j.now().UTC().Format(time.RFC3339Nano), Stage: j.stage,
			Experiment: j.experiment, Iteration: j.iteration, Msg: line})
		if err != nil {
			return 0, err
		}
		if _, err := j.w.Write(append(b, '\n')); err != nil {
			return 0, err
		}
	}
}
