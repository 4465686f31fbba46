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
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/controllers"
	"github.com/regcred/regcred-operator/internal/credset"
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
	metricsAddr                string
	probeAddr                  string
	leaderElect                bool
	leaderElectionNamespace    string
	leaderElectionID           string
	leaderElectionIdentity     string
	secureMetrics              bool
	enableHTTP2                bool
	webhookHTTP2               bool
	sourceNamespaces           string
	qps                        float64
	burst                      int
	kubeAPICompression         bool
	maxConcurrentReconciles    int
	parallelWrites             int
	checkCredentials           bool
	checkWorkers               int
	tracePullFailures          bool
	tracePullFailuresAllPhases bool
	repairEvictionsPerMinute   int
	pprofAddr                  string
	gracefulShutdown           time.Duration
	leaseDuration              time.Duration
	renewDeadline              time.Duration
	retryPeriod                time.Duration
	webhook                    webhookFlags
}

func defaultSourceNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "regcred-system"
}

// defaultLeaderElectionIdentity is the Pod's name ($POD_NAME, from the
// downward API), else the hostname (a Pod's hostname is its name, unless
// spec.hostname says otherwise).
func defaultLeaderElectionIdentity() string {
	if name := os.Getenv("POD_NAME"); name != "" {
		return name
	}
	host, _ := os.Hostname()
	return host
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
	flag.StringVar(&f.leaderElectionIdentity, "leader-election-identity", defaultLeaderElectionIdentity(),
		"This replica's holder identity in the leader election Lease; it must differ between replicas, and stay the same across "+
			"restarts of one Pod's container, so that a restarted leader takes its Lease back at once. Default: $POD_NAME, else the hostname.")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server.")
	flag.BoolVar(&f.webhookHTTP2, "webhook-http2", true, "Serve the webhooks over HTTP/2 as well as HTTP/1.1, so the API server reuses one connection for concurrent admissions.")
	flag.StringVar(&f.sourceNamespaces, "source-namespaces", defaultSourceNamespace(),
		"Comma-separated namespaces source Secrets may live in; \"*\" allows any (and caches every Secret of the cluster). "+
			"Default: $POD_NAMESPACE, else regcred-system.")
	flag.Float64Var(&f.qps, "kube-api-qps", 1000, "Client-side limit of requests per second to the API server (negative: no limit).")
	flag.IntVar(&f.burst, "kube-api-burst", 2000, "Client-side burst of requests to the API server.")
	flag.BoolVar(&f.kubeAPICompression, "kube-api-compression", false, "Ask the API server to gzip responses (lists and watch streams). Off by default: in a cluster the network is cheap and gzip costs CPU on both sides, the API server's included; turn it on for an API server behind a slow link.")
	flag.IntVar(&f.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "RegistryCredential status summaries computed at once.")
	flag.IntVar(&f.parallelWrites, "parallel-writes", 64, "(RegistryCredential, namespace) work items processed at once: the writes in flight during a fan-out or rotation.")
	flag.BoolVar(&f.checkCredentials, "check-credentials", true, "Check each RegistryCredential's credential against its registry (the CredentialsVerified condition); false: no request to any registry.")
	flag.IntVar(&f.checkWorkers, "check-workers", 4, "Credential checks run at once (at most one per registry).")
	flag.BoolVar(&f.tracePullFailures, "trace-pull-failures", true, "Watch Pods (only what tracing needs is cached) and trace failed pulls of images under a RegistryCredential's server to their cause (status.pullFailures, an Event on the Pod).")
	flag.BoolVar(&f.tracePullFailuresAllPhases, "trace-pull-failures-all-phases", false, "Trace failed pulls in Pods of every phase, not only Pending ones: a Running Pod's restarted or ephemeral container too, for about 3.5 KiB of memory per Pod of the cluster.")
	flag.IntVar(&f.repairEvictionsPerMinute, "repair-evictions-per-minute", 30, "Most Pods evicted a minute, over all RegistryCredentials, by spec.repair.restartPodsNotReferenced.")
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "", "Serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty: off.")
	// Defaults: kube-controller-manager's (and client-go's examples').
	flag.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a leader's Lease is valid without renewal: the longest a crashed leader's work waits for another replica.")
	flag.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew (through an API server or etcd outage) before it gives up leading and exits.")
	flag.DurationVar(&f.retryPeriod, "leader-election-retry-period", 2*time.Second, "How often the leader renews and the other replicas try to take over.")
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
	logger := zapr.NewLogger(crzap.NewRaw(crzap.UseFlagOptions(&zapOpts)))
	ctrl.SetLogger(logger)
	// client-go and parts of controller-runtime (leader election, reflector
	// warnings) log through klog: the same logger makes those lines JSON too.
	klog.SetLogger(logger)
	setupLog := ctrl.Log.WithName("setup")
	v := version.Get()
	setupLog.Info("regcred-operator", "version", v.Version, "revision", v.Revision, "goVersion", v.GoVersion)
	setMemoryLimit(setupLog)

	if err := run(ctrl.SetupSignalHandler(), f); err != nil {
		setupLog.Error(err, "exiting")
		os.Exit(1)
	}
}

// setMemoryLimit sets the Go runtime's soft memory limit to 90% of the
// container's (its cgroup's memory limit), leaving the rest for what the
// container is charged that the runtime does not count (the binary's mapped
// pages, page cache), so that the GC works harder near the limit before the
// kernel kills the process. GOMEMLIMIT in the environment is kept as it is;
// AUTOMEMLIMIT sets another ratio, or "off".
func setMemoryLimit(log logr.Logger) {
	limit, err := memlimit.Set()
	switch {
	case err != nil:
		log.Info("Go memory limit not set from the cgroup's", "reason", err.Error())
	case limit == math.MaxInt64:
		log.V(1).Info("no memory limit")
	default:
		log.Info("Go memory limit", "bytes", limit)
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
	// client-go's transport (HTTP/2 with health checks); protobuf for the
	// built-in types (controller-runtime falls back to JSON for the
	// RegistryCredential CRD). controller-runtime builds one REST client,
	// and so one rate limiter, per kind.
	cfg.UserAgent = "regcred-operator"
	cfg.QPS = float32(f.qps)
	cfg.Burst = f.burst
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.DisableCompression = !f.kubeAPICompression
	// the manager needs the API server (discovery) to be built: a process
	// started during an outage (a leader that gave up its Lease, restarted
	// by the kubelet) waits for it here instead of exiting into the
	// kubelet's crash back-off.
	if err := waitForAPIServer(ctx, cfg, setupLog); err != nil {
		return err
	}

	// HTTP/1.1 only, unless asked otherwise: the metrics endpoint gains
	// nothing from HTTP/2. The webhook server speaks HTTP/2 by default, so
	// that the API server keeps one connection open instead of a TLS
	// handshake per concurrent admission; Go's server bounds each
	// connection's concurrent streams and handlers (the Rapid Reset
	// mitigation, CVE-2023-44487) and the header frames it accepts
	// (CVE-2023-45288).
	http1Only := func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }
	var metricsTLS, webhookTLS []func(*tls.Config)
	if !f.enableHTTP2 {
		metricsTLS = append(metricsTLS, http1Only)
	}
	if !f.webhookHTTP2 {
		webhookTLS = append(webhookTLS, http1Only)
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   f.metricsAddr,
		SecureServing: f.secureMetrics,
		TLSOpts:       metricsTLS,
	}
	if f.secureMetrics {
		metricsOpts.FilterProvider = metricsauth.WithAuthenticationAndAuthorization
	}

	webhookServer, webhookReady, webhookCertWatcher, err := f.webhook.webhookServer(webhookTLS)
	if err != nil {
		return err
	}

	var lock resourcelock.Interface
	leaderEvents := &leaderElectionEvents{}
	if f.leaderElect {
		if lock, err = leaderElectionLock(cfg, f, leaderEvents); err != nil {
			return err
		}
	}

	cacheOpts := controllers.CacheOptions(sourceNamespaces)
	if f.tracePullFailuresAllPhases {
		controllers.WatchPodsInEveryPhase(&cacheOpts)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                              scheme,
		Cache:                               cacheOpts,
		Metrics:                             metricsOpts,
		WebhookServer:                       webhookServer,
		HealthProbeBindAddress:              f.probeAddr,
		PprofBindAddress:                    f.pprofAddr,
		LeaderElection:                      f.leaderElect,
		LeaderElectionResourceLockInterface: lock,
		LeaderElectionReleaseOnCancel:       true,
		GracefulShutdownTimeout:             &f.gracefulShutdown,
		LeaseDuration:                       &f.leaseDuration,
		RenewDeadline:                       &f.renewDeadline,
		RetryPeriod:                         &f.retryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	leaderEvents.recorder = mgr.GetEventRecorder("regcred-operator")

	// one compiled snapshot of the RegistryCredentials for the controllers and
	// the webhook.
	credentials := &credset.Set{Reader: mgr.GetCache()}
	if err := credentials.Follow(ctx, mgr.GetCache()); err != nil {
		return fmt.Errorf("watching RegistryCredentials: %w", err)
	}
	if err := controllers.SetupWithManager(ctx, mgr, controllers.Options{
		SourceNamespaces:  sourceNamespaces,
		PairWorkers:       f.parallelWrites,
		CredentialWorkers: f.maxConcurrentReconciles,
		Credentials:       credentials,
		CheckCredentials:  f.checkCredentials,
		CheckWorkers:      f.checkWorkers,

		TracePullFailures:        f.tracePullFailures,
		RepairEvictionsPerMinute: f.repairEvictionsPerMinute,
		PodWebhook:               f.webhook.enable,
	}); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	if err := setupWebhook(ctx, mgr, f.webhook, credentials, sourceNamespaces, webhookReady, webhookCertWatcher); err != nil {
		return err
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	setupLog.Info("starting manager", "sourceNamespaces", sourceNamespaces, "qps", f.qps, "burst", f.burst, "compression", f.kubeAPICompression,
		"leaderElection", f.leaderElect, "identity", f.leaderElectionIdentity)
	return mgr.Start(ctx)
}

// serviceAccountNamespaceFile holds the Pod's namespace in a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderElectionLock is the Lease lock controller-runtime would build
// (pkg/leaderelection), but with --leader-election-identity as the holder
// identity where controller-runtime takes the hostname and a random suffix:
// a leader whose container restarts in the same Pod finds its own identity
// on the Lease and leads again at once, instead of waiting out the Lease.
// The Lease lives in --leader-election-namespace, else the Pod's namespace.
func leaderElectionLock(cfg *rest.Config, f flags, events resourcelock.EventRecorder) (resourcelock.Interface, error) {
	if f.leaderElectionIdentity == "" {
		return nil, errors.New("--leader-election-identity is empty (no $POD_NAME, no hostname)")
	}
	ns := f.leaderElectionNamespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		data, err := os.ReadFile(serviceAccountNamespaceFile)
		if err != nil {
			return nil, fmt.Errorf("not running in a cluster: set --leader-election-namespace (%w)", err)
		}
		ns = strings.TrimSpace(string(data))
	}
	lc := rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// As controller-runtime: one hung request must not cost the leadership.
	lc.Timeout = max(f.renewDeadline/2, time.Second)
	client, err := coordinationv1client.NewForConfig(lc)
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: f.leaderElectionID},
		Client:     client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: f.leaderElectionIdentity, EventRecorder: events},
	}, nil
}

// leaderElectionEvents records the leader election's Events on the Lease
// ("<identity> became leader") through the manager's recorder. The lock is
// built before the manager, so the recorder is set after; leader election
// starts with the manager, later still.
type leaderElectionEvents struct {
	recorder recorder.EventRecorder
}

func (e *leaderElectionEvents) Eventf(obj kruntime.Object, eventType, reason, message string, args ...any) {
	if e.recorder != nil {
		e.recorder.Eventf(obj, nil, eventType, reason, "LeaderElection", message, args...)
	}
}

// apiServerPoll is how often a starting operator asks an API server that
// does not answer yet.
const apiServerPoll = 250 * time.Millisecond

// waitForAPIServer returns once the API server says it is ready, or ctx
// ends.
func waitForAPIServer(ctx context.Context, cfg *rest.Config, log logr.Logger) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the discovery client: %w", err)
	}
	logged := false
	err = wait.PollUntilContextCancel(ctx, apiServerPoll, true, func(ctx context.Context) (bool, error) {
		// /readyz, not /version: an API server that has just started answers
		// /version before its discovery and storage are ready.
		if err := dc.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
			if !logged {
				log.Info("waiting for the API server", "error", err.Error())
				logged = true
			}
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the API server: %w", err)
	}
	if logged {
		log.Info("the API server answers")
	}
	return nil
}
