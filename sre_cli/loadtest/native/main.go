// aqua-loadgen: the open-model engine of `aqua loadtest run --arrival-rate/--stages`.
//
// It reads a plan (JSON) naming the arrival-rate schedule and the requests, and fires each
// request at its intended time whatever the latency of the earlier ones, using vegeta's
// attacker (github.com/tsenart/vegeta/v12) with a pacer for piecewise-linear stages. A
// request whose worker was not free on time is sent late, never skipped: its intended time
// stays the schedule's, so the corrected latency (intended time to response) counts the wait
// that a closed-loop generator would hide.
//
//	aqua-loadgen PLAN.json RESULTS.txt    # one line per request, then a JSON summary on stdout
//
// A results line is "intended_us sent_us latency_us status target" (times from the start of
// the run; status 0 when no response came; target indexes the plan's targets).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type stage struct {
	Seconds float64 `json:"seconds"`
	RPS     float64 `json:"rps"`
}

type target struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

type plan struct {
	StartRPS    float64  `json:"start_rps"`
	Stages      []stage  `json:"stages"`
	Targets     []target `json:"targets"`
	MaxInFlight uint64   `json:"max_in_flight"`
	Connections int      `json:"connections"`
	TimeoutS    float64  `json:"timeout_s"`
	ProgressS   float64  `json:"progress_s"`
}

// segment: the rate goes linearly from r0 to r1 between t0 and t1 (seconds); h0 hits are
// intended before t0.
type segment struct{ t0, t1, r0, r1, h0 float64 }

// schedule is the cumulative number of intended hits H(t) and its inverse.
type schedule struct {
	segs  []segment
	total float64 // seconds
	hits  uint64  // intended hits in [0, total)
}

func newSchedule(p plan) schedule {
	var s schedule
	t, r, h := 0.0, p.StartRPS, 0.0
	for _, st := range p.Stages {
		seg := segment{t, t + st.Seconds, r, st.RPS, h}
		s.segs = append(s.segs, seg)
		h += (r + st.RPS) / 2 * st.Seconds
		t, r = seg.t1, st.RPS
	}
	s.total = t
	s.hits = uint64(math.Ceil(h - 1e-9))
	return s
}

// at is the time (seconds) of intended hit n (0-based): the first t with H(t) = n.
func (s schedule) at(n uint64) float64 {
	m0 := float64(n)
	for _, g := range s.segs {
		d := g.t1 - g.t0
		end := g.h0 + (g.r0+g.r1)/2*d
		if m0 > end || (g.r0 == 0 && g.r1 == 0) {
			continue
		}
		m := m0 - g.h0
		if m <= 0 {
			return g.t0
		}
		a := (g.r1 - g.r0) / (2 * d) // H = h0 + r0 x + a x^2
		disc := g.r0*g.r0 + 4*a*m
		if disc < 0 {
			disc = 0
		}
		return g.t0 + 2*m/(g.r0+math.Sqrt(disc))
	}
	return s.total
}

// Pace implements vegeta.Pacer: wait until the next hit's intended time, at once when late.
func (s schedule) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= s.hits {
		return 0, true
	}
	due := time.Duration(s.at(hits) * float64(time.Second))
	if due > elapsed {
		return due - elapsed, false
	}
	return 0, false
}

// Rate implements vegeta.Pacer.
func (s schedule) Rate(elapsed time.Duration) float64 {
	t := elapsed.Seconds()
	for _, g := range s.segs {
		if t < g.t1 {
			return g.r0 + (g.r1-g.r0)*(t-g.t0)/(g.t1-g.t0)
		}
	}
	return 0
}

type summary struct {
	IntendedHits uint64         `json:"intended_hits"`
	Sent         uint64         `json:"sent"`
	DurationS    float64        `json:"duration_s"`
	ElapsedS     float64        `json:"elapsed_s"`
	Stopped      bool           `json:"stopped"`
	Errors       map[string]int `json:"errors"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "aqua-loadgen: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: aqua-loadgen PLAN.json RESULTS.txt")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var p plan
	if err := json.Unmarshal(raw, &p); err != nil {
		fail("bad plan: %v", err)
	}
	if len(p.Targets) == 0 || len(p.Stages) == 0 {
		fail("bad plan: no targets or no stages")
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	w := bufio.NewWriterSize(out, 1<<20)

	targets := make([]vegeta.Target, len(p.Targets))
	index := map[string]int{}
	for i, t := range p.Targets {
		h := http.Header{}
		for k, v := range t.Headers {
			h.Set(k, v)
		}
		targets[i] = vegeta.Target{Method: t.Method, URL: t.URL, Header: h, Body: []byte(t.Body)}
		key := t.Method + " " + t.URL
		if _, seen := index[key]; !seen {
			index[key] = i
		}
	}
	var next atomic.Uint64
	targeter := func(tgt *vegeta.Target) error {
		*tgt = targets[(next.Add(1)-1)%uint64(len(targets))]
		return nil
	}

	sched := newSchedule(p)
	maxInFlight := p.MaxInFlight
	if maxInFlight == 0 {
		maxInFlight = 1000
	}
	timeout := time.Duration(p.TimeoutS * float64(time.Second))
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	attacker := vegeta.NewAttacker(
		vegeta.Workers(min(maxInFlight, 32)),
		vegeta.MaxWorkers(maxInFlight),
		vegeta.Timeout(timeout),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(0),
		vegeta.Proxy(nil), // loopback only: never a proxy from the environment
		// A bounded pool: a request beyond it waits for a connection (its wait counts in
		// both latencies) instead of opening more, which only overloads the proxy in front.
		vegeta.Connections(max(p.Connections, 1)),
		vegeta.MaxConnections(max(p.Connections, 1)),
	)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	stopped := atomic.Bool{}
	go func() {
		<-signals
		stopped.Store(true)
		attacker.Stop()
	}()

	var sent, done atomic.Uint64
	began := time.Now()
	if p.ProgressS > 0 {
		go func() {
			tick := time.NewTicker(time.Duration(p.ProgressS * float64(time.Second)))
			defer tick.Stop()
			for range tick.C {
				el := time.Since(began).Seconds()
				fmt.Fprintf(os.Stderr, "progress %.1f %.1f %d %d\n", el,
					sched.Rate(time.Since(began)), sent.Load(), done.Load())
			}
		}()
	}
	errs := map[string]int{}
	// A request that could not be sent on time still goes out late, for at most 2 s after the
	// schedule's end; later ones are dropped (and counted as intended but not sent).
	du := time.Duration((sched.total + 2) * float64(time.Second))
	for res := range attacker.Attack(targeter, sched, du, "") {
		sent.Add(1)
		intended := sched.at(res.Seq)
		start := res.Timestamp.Sub(began).Seconds()
		idx, ok := index[res.Method+" "+res.URL]
		if !ok {
			idx = -1
		}
		if res.Code == 0 || res.Code >= 400 {
			errs[res.Error]++
		} else {
			done.Add(1)
		}
		fmt.Fprintf(w, "%d %d %d %d %d\n", int64(intended*1e6), int64(start*1e6),
			res.Latency.Microseconds(), res.Code, idx)
	}
	if err := w.Flush(); err != nil {
		fail("writing results: %v", err)
	}
	if err := out.Close(); err != nil {
		fail("writing results: %v", err)
	}
	// keep the summary small: the ten most frequent errors
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range errs {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	top := map[string]int{}
	for i, e := range all {
		if i == 10 {
			break
		}
		top[e.k] = e.v
	}
	s := summary{sched.hits, sent.Load(), sched.total, time.Since(began).Seconds(),
		stopped.Load(), top}
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		fail("%v", err)
	}
}
