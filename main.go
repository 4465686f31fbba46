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

// Command regcred-operator runs the RegistryCredential controller (and the
// Pod admission webhook).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/go-logr/zapr"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
	"github.com/regcred/regcred-operator/internal/credset"
	"github.com/regcred/regcred-operator/internal/kubeclient"
	"github.com/regcred/regcred-operator/internal/memrelease"
	"github.com/regcred/regcred-operator/internal/metricsauth"
	"github.com/regcred/regcred-operator/internal/version"
)

var scheme = kruntime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

// flags are the command line settings.
type flags struct {
	metricsAddr             string
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	leaderElectionID        string
	secureMetrics           bool
	enableHTTP2             bool
	kubeAPIHTTP2            bool
	sourceNamespaces        string
	qps                     float64
	burst                   int
	kubeAPICompression      bool
	maxConcurrentReconciles int
	parallelWrites          int
	pprofAddr               string
	gracefulShutdown        time.Duration
	leaseDuration           time.Duration
	renewDeadline           time.Duration
	retryPeriod             time.Duration
	webhook                 webhookFlags
}

func defaultSourceNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "regcred-system"
}

func main() {
	var f flags
	showVersion := flag.Bool("version", false, "Print the version, source revision and Go version, and exit.")
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false, "Enable leader election, ensuring only one active manager.")
	flag.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader election Lease (default: the namespace the manager runs in).")
	flag.StringVar(&f.leaderElectionID, "leader-election-id", "regcred-operator.registry.regcred.dev",
		"Name of the leader election Lease: installations sharing a namespace need different ones (the Helm chart uses the release's name).")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics and webhook servers.")
	flag.StringVar(&f.sourceNamespaces, "source-namespaces", defaultSourceNamespace(),
		"Comma-separated namespaces source Secrets may live in; \"*\" allows any (and caches every Secret of the cluster). "+
			"Default: $POD_NAMESPACE, else regcred-system.")
	flag.Float64Var(&f.qps, "kube-api-qps", 1000, "Client-side limit of requests per second to the API server (negative: no limit).")
	flag.IntVar(&f.burst, "kube-api-burst", 2000, "Client-side burst of requests to the API server.")
	flag.BoolVar(&f.kubeAPIHTTP2, "kube-api-http2", false, "Talk HTTP/2 to the API server (one multiplexed connection) instead of HTTP/1.1 (a connection per request in flight), which keeps many parallel writes faster.")
	flag.BoolVar(&f.kubeAPICompression, "kube-api-compression", false, "Ask the API server to gzip responses (lists and watch streams). Off by default: in a cluster the network is cheap and gzip costs CPU on both sides, the API server's included; turn it on for an API server behind a slow link.")
	flag.IntVar(&f.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "RegistryCredential status summaries computed at once.")
	flag.IntVar(&f.parallelWrites, "parallel-writes", 64, "(RegistryCredential, namespace) work items processed at once: the writes in flight during a fan-out or rotation.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "", "Serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off.")
	// Defaults: a leader rides out an API server or etcd outage of up to 20 s
	// without giving up (it exits when it does, and a Pod restart follows);
	// a crashed leader's work waits at most 30 s for another replica; after a
	// graceful stop (the Lease is released) another replica takes over within
	// the retry period and its jitter (client-go: up to 2.2 times it), 1.65 s.
	flag.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 30*time.Second, "How long a leader's Lease is valid without renewal: the longest a crashed leader's work waits for another replica.")
	flag.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 20*time.Second, "How long the leader keeps trying to renew (through an API server or etcd outage) before it gives up leading and exits.")
	flag.DurationVar(&f.retryPeriod, "leader-election-retry-period", 750*time.Millisecond, "How often the leader renews and the other replicas try to take over.")
	flag.DurationVar(&f.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second,
		"How long a stopping manager waits for its work items to finish before it releases the leader Lease and exits; keep the Pod's terminationGracePeriodSeconds above it.")
	bindWebhookFlags(flag.CommandLine, &f.webhook)
	zapOpts := crzap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get())
		os.Exit(0)
	}
	if f.pprofAddr == "" {
		// nobody can read heap profiles: do not sample allocations for them
		// (the sampled stacks' table alone takes up to 1.4 MiB).
		runtime.MemProfileRate = 0
	}

	logger := zapr.NewLogger(crzap.NewRaw(crzap.UseFlagOptions(&zapOpts)))
	ctrl.SetLogger(logger)
	// client-go and parts of controller-runtime (leader election, reflector
	// warnings) log through klog: the same logger makes those lines JSON too.
	klog.SetLogger(logger)
	setupLog := ctrl.Log.WithName("setup")
	v := version.Get()
	setupLog.Info("regcred-operator", "version", v.Version, "revision", v.Revision, "goVersion", v.GoVersion)

	if err := run(ctrl.SetupSignalHandler(), f); err != nil {
		setupLog.Error(err, "exiting")
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func run(ctx context.Context, f flags) error {
	setupLog := ctrl.Log.WithName("setup")
	sourceNamespaces := splitList(f.sourceNamespaces)
	if len(sourceNamespaces) == 0 {
		return fmt.Errorf("--source-namespaces must name at least one namespace or \"*\"")
	}
	if err := metrics.Registry.Register(version.NewCollector()); err != nil {
		return fmt.Errorf("registering regcred_build_info: %w", err)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if err := kubeclient.Configure(cfg, kubeclient.Options{
		QPS: f.qps, Burst: f.burst, Compression: f.kubeAPICompression, HTTP2: f.kubeAPIHTTP2, KeepIdle: f.parallelWrites,
	}); err != nil {
		return err
	}

	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		// HTTP/2 Stream Cancellation and Rapid Reset CVEs: serve HTTP/1.1 only.
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   f.metricsAddr,
		SecureServing: f.secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if f.secureMetrics {
		metricsOpts.FilterProvider = metricsauth.WithAuthenticationAndAuthorization
	}

	webhookServer, webhookReady, webhookCertWatcher, err := f.webhook.webhookServer(tlsOpts)
	if err != nil {
		return err
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(sourceNamespaces),
		MapperProvider:                kubeclient.NewRESTMapper,
		Metrics:                       metricsOpts,
		WebhookServer:                 webhookServer,
		HealthProbeBindAddress:        f.probeAddr,
		PprofBindAddress:              f.pprofAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              f.leaderElectionID,
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &f.gracefulShutdown,
		LeaseDuration:                 &f.leaseDuration,
		RenewDeadline:                 &f.renewDeadline,
		RetryPeriod:                   &f.retryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	// one compiled snapshot of the RegistryCredentials for the controllers and
	// the webhook.
	credentials := &credset.Set{Reader: mgr.GetCache()}
	if err := credentials.Follow(ctx, mgr.GetCache()); err != nil {
		return fmt.Errorf("watching RegistryCredentials: %w", err)
	}
	if err := (&controllers.Operator{
		Client:            mgr.GetClient(),
		APIReader:         mgr.GetAPIReader(),
		Recorder:          mgr.GetEventRecorder("regcred-operator"),
		Credentials:       credentials,
		SourceNamespaces:  sourceNamespaces,
		PairWorkers:       f.parallelWrites,
		CredentialWorkers: f.maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	if err := setupWebhook(ctx, mgr, f.webhook, credentials, sourceNamespaces, webhookReady, webhookCertWatcher); err != nil {
		return err
	}

	// after a burst of work (fan-out, rotation, start), give its garbage back
	// to the operating system instead of keeping it until the next one.
	if err := mgr.Add(&memrelease.Releaser{Log: ctrl.Log.WithName("memory")}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	setupLog.Info("starting manager", "sourceNamespaces", sourceNamespaces, "qps", f.qps, "burst", f.burst, "http2", f.kubeAPIHTTP2, "compression", f.kubeAPICompression)
	return mgr.Start(ctx)
}
