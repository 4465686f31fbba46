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
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// packages the node needs, by a file each one installs.
var packages = []struct{ pkg, file string }{
	{"containerd", "/usr/bin/containerd"},
	{"runc", "/usr/sbin/runc"},
	{"containernetworking-plugins", "/usr/lib/cni/bridge"},
	{"iptables", "/usr/sbin/iptables"},
	{"conntrack", "/usr/sbin/conntrack"},
	{"iproute2", "/usr/sbin/ip"},
}

// checkPackages installs what is missing with apt-get (when allowed).
func (n *node) checkPackages() error {
	var missing []string
	for _, p := range packages {
		if _, err := os.Stat(p.file); err != nil {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !n.install {
		return fmt.Errorf("missing packages %s: install them (apt-get install %s) or drop --install-packages=false", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	t0 := time.Now()
	n.logf("installing %s with apt-get", strings.Join(missing, " "))
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v: %s", err, lastLines(out, 10))
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %v: %s", strings.Join(missing, " "), err, lastLines(out, 10))
	}
	n.logf("installed %s in %s", strings.Join(missing, " "), time.Since(t0).Round(time.Second))
	return nil
}

func lastLines(b []byte, k int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) > k {
		l = l[len(l)-k:]
	}
	return strings.Join(l, "\n")
}

// hostChanges records what the node changes outside its state directory,
// so that undo puts it back: the iptables tables (restored from a snapshot),
// two sysctls, the node IP on lo, a line in /etc/hosts, and the directories and
// cgroups the kubelet, containerd and CNI create where they always do.
type hostChanges struct {
	applied     bool
	iptables    map[string][]byte // binary -> iptables-save output before
	sysctls     map[string]string
	hostsLine   string
	existed     map[string]bool
	netnsKnown  map[string]bool
	nodeIPAdded bool
}

const hostsMarker = "# regcred-node: hack/node removes this line when it stops"

// fixedPaths are where the kubelet, containerd's shims and CNI write whatever
// their configuration says.
var fixedPaths = []string{"/run/containerd", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers",
	"/var/lib/cni", "/etc/cni", "/run/netns", "/var/run/netns", "/opt/cni"}

var cgroupRoots = []string{"kubepods", "kubepods.slice"}

func (h *hostChanges) apply(n *node) error {
	h.iptables = map[string][]byte{}
	for _, b := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(b).Output()
		if err != nil {
			if b == "ip6tables-save" {
				continue
			}
			return fmt.Errorf("%s: %v", b, err)
		}
		h.iptables[b] = out
	}
	h.existed = map[string]bool{}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); err == nil {
			h.existed[p] = true
		}
	}
	for _, c := range cgroupDirs() {
		h.existed[c] = true
	}
	h.netnsKnown = map[string]bool{}
	for _, ns := range netnsList() {
		h.netnsKnown[ns] = true
	}
	h.applied = true
	h.sysctls = map[string]string{}
	for _, k := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil {
			return fmt.Errorf("sysctl %s: %v (the node needs IP forwarding and bridge netfilter)", k, err)
		}
		h.sysctls[k] = strings.TrimSpace(string(b))
		if err := os.WriteFile("/proc/sys/"+k, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("setting %s: %v", k, err)
		}
	}
	// The node IP on the loopback device (this kernel has no dummy links).
	if out, err := exec.Command("ip", "addr", "replace", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		return fmt.Errorf("ip addr replace %s/32 dev lo: %v: %s", nodeIP, err, out)
	}
	h.nodeIPAdded = true
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return err
	}
	h.hostsLine = fmt.Sprintf("%s %s %s", registryIP, registryHost, hostsMarker)
	kept := dropMarked(hosts)
	return writeInPlace("/etc/hosts", append(kept, []byte(h.hostsLine+"\n")...))
}

// undo puts the host back. It goes on after an error, so that one failure
// does not leave the rest behind, and reports what it could not undo.
func (h *hostChanges) undo(n *node) {
	if !h.applied {
		return
	}
	warn := func(format string, args ...any) { n.logf("cleanup: "+format, args...) }
	// Processes left in the Pods' cgroups (a container the kubelet did not
	// stop) and shims of our containerd.
	for _, c := range cgroupDirs() {
		if h.existed[c] {
			continue
		}
		_ = filepath.Walk(c, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	_ = exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*-address "+n.containerdSocket()).Run()
	unmountUnder(n.state)
	for _, ns := range netnsList() {
		if h.netnsKnown[ns] {
			continue
		}
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		if err := os.Remove(ns); err != nil {
			warn("removing network namespace %s: %v", ns, err)
		}
	}
	if h.nodeIPAdded {
		if out, err := exec.Command("ip", "addr", "del", nodeIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
			warn("ip addr del %s/32 dev lo: %v: %s", nodeIP, err, bytes.TrimSpace(out))
		}
	}
	for _, l := range []string{bridgeName} {
		if out, err := exec.Command("ip", "link", "del", l).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			warn("ip link del %s: %v: %s", l, err, bytes.TrimSpace(out))
		}
	}
	for save, before := range h.iptables {
		bin := strings.TrimSuffix(save, "-save")
		now, _ := exec.Command(save).Output()
		for _, t := range tables(now) {
			if !contains(tables(before), t) {
				_ = exec.Command(bin, "-t", t, "-F").Run()
				_ = exec.Command(bin, "-t", t, "-X").Run()
			}
		}
		cmd := exec.Command(bin + "-restore")
		cmd.Stdin = bytes.NewReader(before)
		if out, err := cmd.CombinedOutput(); err != nil {
			warn("%s-restore: %v: %s", bin, err, bytes.TrimSpace(out))
		}
	}
	for k, v := range h.sysctls {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			warn("sysctl %s=%s: %v", k, v, err)
		}
	}
	if hosts, err := os.ReadFile("/etc/hosts"); err == nil {
		if err := writeInPlace("/etc/hosts", dropMarked(hosts)); err != nil {
			warn("/etc/hosts: %v", err)
		}
	}
	// Cgroups: deepest first, only those the node created.
	for _, c := range cgroupDirs() {
		if h.existed[c] {
			continue
		}
		var dirs []string
		_ = filepath.Walk(c, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				warn("cgroup %s: %v", d, err)
			}
		}
	}
	for _, p := range fixedPaths {
		if !h.existed[p] {
			if err := os.RemoveAll(p); err != nil {
				warn("removing %s: %v", p, err)
			}
		}
	}
	entries, _ := os.ReadDir(n.state)
	for _, e := range entries {
		switch e.Name() {
		case "logs", "node.log", "node.pid":
			continue
		}
		if err := os.RemoveAll(filepath.Join(n.state, e.Name())); err != nil {
			warn("removing %s: %v", e.Name(), err)
		}
	}
	h.applied = false
}

// cgroupDirs are the kubelet's Pod cgroup roots in every v1 hierarchy.
func cgroupDirs() []string {
	var out []string
	hier, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hier {
		for _, r := range cgroupRoots {
			p := filepath.Join("/sys/fs/cgroup", h.Name(), r)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func netnsList() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range []string{"/run/netns", "/var/run/netns"} {
		// /var/run is usually a link to /run: list each directory once.
		if real, err := filepath.EvalSymlinks(d); err == nil {
			if seen[real] {
				continue
			}
			seen[real] = true
		}
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			out = append(out, filepath.Join(d, e.Name()))
		}
	}
	return out
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

func tables(save []byte) []string {
	var out []string
	for _, l := range strings.Split(string(save), "\n") {
		if strings.HasPrefix(l, "*") {
			out = append(out, strings.TrimPrefix(l, "*"))
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func dropMarked(hosts []byte) []byte {
	var out []byte
	for _, l := range strings.SplitAfter(string(hosts), "\n") {
		if l != "" && !strings.Contains(l, hostsMarker) {
			out = append(out, l...)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out
}

// writeInPlace rewrites a file without replacing it (/etc/hosts may be a bind
// mount, which a rename cannot replace).
func writeInPlace(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
