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
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type remoteImage = v1.Image

// imageSpec is an image of one static binary on an empty base, laid out as
// distroless/static:nonroot is: /etc/passwd and /etc/group with root and
// nonroot (65532), the host's CA bundle, /tmp, and the binary.
type imageSpec struct {
	binary, path string
	user         string
	labels       map[string]string
	caBundle     string
}

// The files' times are fixed, so the same binary gives the same digest.
var epoch = time.Unix(0, 0).UTC()

func buildImage(s imageSpec) (v1.Image, error) {
	bin, err := os.ReadFile(s.binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch})
	}
	file := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")) },
		func() error { return dir("home", 0o755) },
		func() error { return dir("home/nonroot", 0o700) },
		func() error { return dir("tmp", 0o1777) },
	}
	if s.caBundle != "" {
		ca, err := os.ReadFile(s.caBundle)
		if err != nil {
			return nil, err
		}
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755) },
			func() error { return dir("etc/ssl/certs", 0o755) },
			func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) })
	}
	steps = append(steps, func() error { return file(strings.TrimPrefix(s.path, "/"), 0o755, bin) })
	for _, st := range steps {
		if err := st(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "hack/node image " + s.path, Comment: "static binary on an empty base",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{s.path}
	cf.Config.User = s.user
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cf.Config.Labels = s.labels
	return mutate.ConfigFile(img, cf)
}

// imageCmd: node image --binary FILE --name REF [--path /manager] [--label k=v ...].
func imageCmd(args []string) error {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	var s imageSpec
	var ref, ca, user, pass, labelsFile string
	var labels multiFlag
	fs.StringVar(&s.binary, "binary", "", "The static binary (CGO_ENABLED=0).")
	fs.StringVar(&s.path, "path", "", "Where it goes in the image, and the entrypoint (default: /NAME of the binary).")
	fs.StringVar(&s.user, "user", "65532:65532", "The image's user (nonroot, as distroless).")
	fs.StringVar(&s.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied to /etc/ssl/certs/ca-certificates.crt (empty: none).")
	fs.Var(&labels, "label", "A label key=value (repeatable).")
	fs.StringVar(&labelsFile, "labels-from-dockerfile", "", "Also take the LABEL lines of this Dockerfile's last stage (key=\"value\" pairs).")
	fs.StringVar(&ref, "name", "", "Where to push, e.g. localhost:5001/regcred-operator:dev (localhost: plain HTTP).")
	fs.StringVar(&ca, "ca-file", "", "CA of the registry's serving certificate.")
	fs.StringVar(&user, "username", "", "Registry user (basic auth).")
	fs.StringVar(&pass, "password", "", "Registry password.")
	_ = fs.Parse(args)
	if s.binary == "" || ref == "" {
		return fmt.Errorf("image: --binary and --name are required")
	}
	if s.path == "" {
		s.path = "/" + path.Base(s.binary)
	}
	if _, err := os.Stat(s.caBundle); s.caBundle != "" && err != nil {
		return fmt.Errorf("image: CA bundle %s: %v (install ca-certificates, or --ca-bundle=)", s.caBundle, err)
	}
	s.labels = map[string]string{}
	if labelsFile != "" {
		l, err := dockerfileLabels(labelsFile)
		if err != nil {
			return err
		}
		for k, v := range l {
			s.labels[k] = v
		}
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("image: --label %q is not key=value", l)
		}
		s.labels[k] = v
	}
	img, err := buildImage(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	digestRef, err := pushImage(ctx, img, ref, pushOptions{caFile: ca, user: user, pass: pass})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(s.labels))
	for k := range s.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(os.Stderr, "pushed %s (entrypoint %s, user %s, labels %s)\n", ref, s.path, s.user, strings.Join(keys, ", "))
	fmt.Println(digestRef)
	return nil
}

// dockerfileLabels reads the LABEL instructions after the Dockerfile's last
// FROM (key="value" pairs, one instruction a line, continuations joined).
func dockerfileLabels(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			out = map[string]string{}
			continue
		}
		if !strings.HasPrefix(strings.ToUpper(line), "LABEL ") {
			continue
		}
		rest := strings.TrimSpace(line[len("LABEL "):])
		for rest != "" {
			k, after, ok := strings.Cut(rest, "=")
			if !ok {
				return nil, fmt.Errorf("%s: LABEL %q is not key=value", file, rest)
			}
			after = strings.TrimLeft(after, " ")
			var v string
			if strings.HasPrefix(after, `"`) {
				end := strings.Index(after[1:], `"`)
				if end < 0 {
					return nil, fmt.Errorf("%s: unterminated LABEL value in %q", file, line)
				}
				v, after = after[1:1+end], after[2+end:]
			} else {
				v, after, _ = strings.Cut(after, " ")
			}
			// A build argument (${VERSION}) is given with --label instead.
			if !strings.Contains(v, "${") {
				out[strings.TrimSpace(k)] = v
			}
			rest = strings.TrimSpace(after)
		}
	}
	return out, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
