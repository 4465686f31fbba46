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

// Package kubeclient configures how the operator talks to the API server:
// client-side rate limit, protobuf, compression, and HTTP/1.1 with enough
// idle connections kept for the writes in flight.
package kubeclient

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
)

// idleConnTimeout closes connections idle this long (client-go: 90 s).
const idleConnTimeout = 5 * time.Second

// Options tune the client.
type Options struct {
	// QPS and Burst are the client-side rate limit; a negative QPS turns it
	// off. client-go builds one limiter per REST client and controller-runtime
	// one REST client per kind, so the limit holds for each kind apart.
	QPS   float64
	Burst int
	// Compression asks the API server to gzip lists and watch streams.
	Compression bool
	// HTTP2 keeps client-go's default: one multiplexed HTTP/2 connection.
	// Otherwise the operator talks HTTP/1.1, a connection per request in
	// flight, and keeps KeepIdle connections open between bursts.
	HTTP2    bool
	KeepIdle int
}

// Configure sets the operator's client options on cfg: user agent, rate
// limit, protobuf for built-in types (less CPU on both sides than JSON;
// controller-runtime falls back to JSON for the RegistryCredential CRD) and
// the transport (see Options).
//
// HTTP/1.1: kube-apiserver handles all frames of one HTTP/2 connection in one
// loop, which held a hundred parallel writes back in our benchmark (see
// docs/benchmarks.md). client-go's own transport keeps 25 idle connections
// per host and cannot be told otherwise, so a burst of 128 writes would close
// a hundred connections afterwards and open them again, a TLS handshake each,
// at the next burst. The transport is therefore built here from the same TLS
// settings (rest.TLSConfigFor) with client-go's defaults
// (utilnet.SetTransportDefaults); rest still adds authentication (bearer
// token files are re-read as before) and the user agent on top. What is
// lost against client-go's transport is its reload of a CA file that changes
// while the process runs.
func Configure(cfg *rest.Config, o Options) error {
	cfg.QPS = float32(o.QPS)
	cfg.Burst = o.Burst
	cfg.UserAgent = "regcred-operator"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.DisableCompression = !o.Compression
	if o.HTTP2 {
		return nil
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return fmt.Errorf("building the API server TLS configuration: %w", err)
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsCfg.NextProtos = []string{"http/1.1"}
	// Resume TLS sessions: the connections a burst of writes opens at once
	// skip the certificate signature and its verification (handshakes were
	// 15% of the operator's CPU in a fan-out of 1,000 namespaces).
	tlsCfg.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	transport := utilnet.SetTransportDefaults(&http.Transport{
		TLSClientConfig:     tlsCfg,
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: max(o.KeepIdle, 25),
		DisableCompression:  !o.Compression,
	})
	// A burst's connections serve the bursts that follow it closely (a
	// fan-out's writes, the rotation right after); an idle connection costs
	// memory on both sides (buffers, TLS state, two goroutines here), and
	// with session resumption reopening one costs little.
	transport.IdleConnTimeout = idleConnTimeout
	cfg.Transport = transport
	// rest refuses TLS options beside a transport of one's own; they are in
	// the transport now.
	cfg.TLSClientConfig = rest.TLSClientConfig{}
	return nil
}
