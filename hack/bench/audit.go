/*
Copyright 2026 The regcred-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The operator and the baseline each talk to the API server as their own
// envtest user, and the API server writes an audit log (Metadata level, one
// line per completed request) for those two users only. Counting lines by
// user, verb and resource gives exact write counts, with leader-election
// Lease writes apart, whatever else runs in the cluster.
const (
	operatorUser = "regcred-operator"
	baselineUser = "regcred-bench-baseline"
)

// auditPolicy logs every request of the two benchmarked users once, when it
// completes, and nothing else.
// level is Metadata, or Request/RequestResponse to see bodies (-audit-level,
// with -keep-logs).
func auditPolicy(level string) string {
	return `{"apiVersion":"audit.k8s.io/v1","kind":"Policy",` +
		`"omitStages":["RequestReceived","ResponseStarted"],` +
		`"rules":[{"level":"` + level + `","users":["` + operatorUser + `","` + baselineUser + `"]},{"level":"None"}]}`
}

// apiServerWrapper writes a script that runs kube-apiserver with the audit
// flags added. envtest runs it through TEST_ASSET_KUBE_APISERVER, since
// testenv.Start builds the envtest.Environment itself; exec keeps the PID, so
// envtest stops the real process.
func apiServerWrapper(dir, realBinary, level string) (script, logPath string, err error) {
	policy := filepath.Join(dir, "audit-policy.json")
	if err := os.WriteFile(policy, []byte(auditPolicy(level)), 0o600); err != nil {
		return "", "", err
	}
	logPath = filepath.Join(dir, "audit.log")
	script = filepath.Join(dir, "kube-apiserver")
	body := fmt.Sprintf("#!/bin/sh\nexec %q --audit-policy-file=%q --audit-log-path=%q --audit-log-maxsize=1024 --audit-log-maxbackup=0 \"$@\"\n",
		realBinary, policy, logPath)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return "", "", err
	}
	return script, logPath, nil
}

// auditRecord is one completed request of a benchmarked user.
type auditRecord struct {
	user        string
	verb        string
	resource    string
	subresource string
	name        string
	code        int
	received    time.Time
	completed   time.Time
}

// auditLog tails the API server's audit log.
type auditLog struct {
	path string

	mu         sync.Mutex
	records    []auditRecord
	lastMarker time.Time // the latest marker request seen (see sync)
	readErr    error

	// marker sends a GET namespaces request as the baseline user.
	marker func(context.Context) error
}

func newAuditLog(path string) *auditLog { return &auditLog{path: path} }

type auditLine struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
}

// run follows the file until ctx ends.
func (a *auditLog) run(ctx context.Context) {
	var f *os.File
	for f == nil {
		var err error
		if f, err = os.Open(a.path); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				a.setErr(err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			partial = append(partial, line...)
		}
		if err == nil {
			a.parse(partial)
			partial = partial[:0]
			continue
		}
		if !errors.Is(err, io.EOF) {
			a.setErr(err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (a *auditLog) setErr(err error) {
	a.mu.Lock()
	a.readErr = err
	a.mu.Unlock()
}

func (a *auditLog) parse(line []byte) {
	var l auditLine
	if err := json.Unmarshal(line, &l); err != nil || l.Stage != "ResponseComplete" {
		return
	}
	rec := auditRecord{user: l.User.Username, verb: l.Verb, received: l.RequestReceivedTimestamp, completed: l.StageTimestamp}
	if l.ObjectRef != nil {
		rec.resource, rec.subresource, rec.name = l.ObjectRef.Resource, l.ObjectRef.Subresource, l.ObjectRef.Name
	}
	if l.ResponseStatus != nil {
		rec.code = l.ResponseStatus.Code
	}
	a.mu.Lock()
	a.records = append(a.records, rec)
	if rec.user == baselineUser && rec.verb == "get" && rec.resource == "namespaces" && rec.received.After(a.lastMarker) {
		a.lastMarker = rec.received
	}
	a.mu.Unlock()
}

// sync waits until every request received before t is in the log: it lets
// requests in flight at t finish, then sends a marker request (a GET as the
// baseline user) and waits for the marker's line, which the API server
// writes after the lines of the requests that completed before it.
func (a *auditLog) sync(ctx context.Context, t time.Time) {
	if d := time.Until(t.Add(300 * time.Millisecond)); d > 0 {
		sleep(ctx, d)
	}
	sent := time.Now()
	if a.marker == nil || a.marker(ctx) != nil {
		sleep(ctx, time.Second)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		done := !a.lastMarker.Before(sent.Add(-time.Millisecond))
		a.mu.Unlock()
		if done || !sleep(ctx, 10*time.Millisecond) {
			return
		}
	}
	logf("WARNING: the audit log lags more than 10s")
}

// leaseName is the operator's leader-election Lease (main.go's
// LeaderElectionID); the Event "became leader" is recorded on it.
const leaseName = "regcred-operator.registry.regcred.dev"

// leaderElection tells the writes leader election makes: the Lease, and
// the Events recorded on it.
func (r *auditRecord) leaderElection() bool {
	return r.resource == "leases" || (r.resource == "events" && strings.HasPrefix(r.name, leaseName+"."))
}

func isWrite(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection", "apply":
		return true
	}
	return false
}

// requestCounts are the requests one user made in a window.
type requestCounts struct {
	writes      int            // writes other than Lease writes
	leaseWrites int            // leader election: Lease writes, and Events on the Lease
	reads       int            // get, list, watch (completed)
	conflicts   int            // 409 responses to writes
	failed      int            // other non-2xx responses to writes
	byKind      map[string]int // "patch serviceaccounts" -> n (writes only, leases included)
}

func (c requestCounts) breakdown() string {
	keys := make([]string, 0, len(c.byKind))
	for k := range c.byKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, c.byKind[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// count returns the requests user sent (received by the API server) in
// [from, to).
func (a *auditLog) count(user string, from, to time.Time) requestCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := requestCounts{byKind: map[string]int{}}
	for _, r := range a.records {
		if r.user != user || r.received.Before(from) || !r.received.Before(to) {
			continue
		}
		if !isWrite(r.verb) {
			c.reads++
			continue
		}
		kind := r.verb + " " + r.resource
		if r.subresource != "" {
			kind += "/" + r.subresource
		}
		if r.resource == "events" && r.leaderElection() {
			kind += " (leader election)"
		}
		c.byKind[kind]++
		if r.leaderElection() {
			c.leaseWrites++
		} else {
			c.writes++
		}
		switch {
		case r.code == 409:
			c.conflicts++
		case r.code >= 300:
			c.failed++
		}
	}
	return c
}

// lastWrite is when user's last non-Lease write was received, after from.
func (a *auditLog) lastWrite(user string, from time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for _, r := range a.records {
		if r.user == user && isWrite(r.verb) && !r.leaderElection() && r.received.After(from) && r.received.After(last) {
			last = r.received
		}
	}
	return last
}

// writeSpan is when user's writes to the given resources, received in
// [from, to], started (first received) and ended (last completed).
func (a *auditLog) writeSpan(user string, from, to time.Time, resources ...string) (first, last time.Time, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.records {
		if r.user != user || !isWrite(r.verb) || r.subresource != "" || r.received.Before(from) || r.received.After(to) {
			continue
		}
		found := false
		for _, res := range resources {
			found = found || r.resource == res
		}
		if !found {
			continue
		}
		n++
		if first.IsZero() || r.received.Before(first) {
			first = r.received
		}
		if r.completed.After(last) {
			last = r.completed
		}
	}
	return first, last, n
}

// quiet waits until user has made no write other than leader election's for d,
// or until timeout.
func (a *auditLog) quiet(ctx context.Context, user string, d, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		a.sync(ctx, now)
		if now.Sub(a.lastWrite(user, time.Time{})) >= d {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("%s still writing after %s", user, timeout)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (a *auditLog) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readErr
}
