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
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPU accounting: how much CPU each process of the run used during a timed
// trial, read from /proc (user + system time, in clock ticks of 10 ms), and
// how busy the whole machine was. It shows what a scenario is limited by:
// on two cores, a trial that keeps the machine busy is limited by the CPU
// of whichever processes used it.

const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux

// cpuProcs are the processes accounted for, by their /proc comm (at most 15
// bytes), and the names they are shown under.
var cpuProcs = []struct{ comm, name string }{
	{"kube-apiserver", "kube-apiserver"},
	{"etcd", "etcd"},
	{"kube-controller", "kube-controller-manager"},
}

type cpuSample struct {
	at    time.Time
	procs map[string]time.Duration // by shown name
	busy  time.Duration            // all CPUs, from /proc/stat
}

// cpuUsage is what a span used.
type cpuUsage struct {
	wall  time.Duration
	procs map[string]time.Duration
	busy  time.Duration
}

// sampleCPU reads the CPU time used so far by the control plane's
// processes, the operator (opPID, 0 if none) and this process.
func sampleCPU(opPID int) cpuSample {
	s := cpuSample{at: time.Now(), procs: map[string]time.Duration{}}
	if opPID > 0 {
		s.procs["operator"] = procCPU(opPID)
	}
	s.procs["bench"] = procCPU(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(comm))
		for _, p := range cpuProcs {
			if c == p.comm {
				pid, _ := strconv.Atoi(filepath.Base(dir))
				s.procs[p.name] += procCPU(pid)
			}
		}
	}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(raw, []byte("\n"))
		f := strings.Fields(string(line)) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(f[i], 10, 64)
			s.busy += time.Duration(n) * clockTick
		}
	}
	return s
}

// procCPU is a process's user + system time, 0 when it cannot be read.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the command may hold spaces; fields after it are space separated.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// since is what was used from s to now.
func (s cpuSample) since(opPID int) cpuUsage {
	now := sampleCPU(opPID)
	u := cpuUsage{wall: now.at.Sub(s.at), procs: map[string]time.Duration{}, busy: now.busy - s.busy}
	for k, v := range now.procs {
		if d := v - s.procs[k]; d > 0 {
			u.procs[k] = d
		}
	}
	return u
}

// String shows each process's CPU seconds over the span and the machine's
// load in cores, e.g. "kube-apiserver 5.1 s, etcd 1.2 s, ...; 1.9 of 2 cores busy".
func (u cpuUsage) String() string {
	if u.wall <= 0 {
		return "no CPU figures"
	}
	var parts []string
	for _, name := range []string{"kube-apiserver", "etcd", "kube-controller-manager", "operator", "bench"} {
		if d, ok := u.procs[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f s", name, d.Seconds()))
		}
	}
	return fmt.Sprintf("CPU over %.2f s: %s; machine %.2f of %d cores busy",
		u.wall.Seconds(), strings.Join(parts, ", "), u.busy.Seconds()/u.wall.Seconds(), runtime.NumCPU())
}
