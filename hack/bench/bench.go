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
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/testenv"
)

const (
	sourceNS       = "regcred-system"
	sourceName     = "regcred"
	targetName     = "regcred" // the copies' name (defaults to the source's)
	credentialName = "bench"
	server         = "private-registry.io"

	labelTarget    = "bench.regcred.dev/target" // selected by the RegistryCredential
	labelRounds    = "bench.regcred.dev/rounds" // the N namespaces only: selected by the extra fan-out rounds
	labelScale     = "bench.regcred.dev/scale"  // the scale scenarios' namespaces: "fanout", or the group of the scale restart
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedByValue = "regcred-operator"
	baselineValue  = "regcred-bench-base" // managed-by of the baseline's Secrets
	nsPrefix       = "bench-"
)

// serviceAccounts are the ServiceAccounts of every benchmark namespace:
// kube-controller-manager creates default, the bench the other two.
var (
	serviceAccounts = []string{"default", "builder", "deployer"}
	extraSAs        = serviceAccounts[1:]
)

// The operator's two controllers, by the names in its metrics and logs
// (controllers.CredentialControllerName and controllers.PairControllerName).
// They are not imported: the bench must build while the operator's packages
// are mid-edit (see ensureManager); waitWorkers and waitIdle say so when the
// operator's logs or metrics do not know them.
const (
	credentialController = "registrycredential"           // one work item per RegistryCredential: finalizer, status
	pairController       = "registrycredential-namespace" // one per (RegistryCredential, namespace): copies, ServiceAccount entries
)

var operatorControllers = []string{credentialController, pairController}

// idleStable is how long both controllers must have had nothing queued or
// running, and no reconcile finished, before the operator counts as idle.
// It is longer than the longest delay the operator gives a follow-up work
// item (a status summary waits 1 s after the change that asked for it), as
// workqueue_depth does not show items waiting for their delay.
const idleStable = 1500 * time.Millisecond

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

// bench holds what a run started and what it measured.
type bench struct {
	cfg  config
	root string

	dir          string // temporary files
	env          *testenv.Env
	audit        *auditLog
	auditCancel  context.CancelFunc
	webhookOpts  *envtest.WebhookInstallOptions
	features     managerFeatures
	admin        kubernetes.Interface // bench setup and observer: admin, no rate limit, protobuf
	crc          client.Client        // RegistryCredentials
	baseCfg      *rest.Config         // the baseline's own user, no rate limit
	opKubecfg    string               // the operator's own user
	op           *operator
	opArgs       []string // the operator's flags (besides kubeconfig and ports)
	opEnv        string   // the operator's GC setting, as the report shows it
	obs          *observer
	namespaces   []string // the N selected namespaces
	newNS        []string // added by the new-namespace scenario
	sourceData   string   // current .dockerconfigjson of the source
	k8sVersion   string
	profileStop  func()
	heapProfiles int             // heap profiles saved so far (-profile-dir)
	trialN       int             // baseline trials so far (each writes its own names)
	rotationSet  baselineSecrets // the Secrets the baseline rotation trials update

	res results
}

// results are the measurements the table is made of.
type results struct {
	baselineFanout, baselineRotation trial    // the calibration's best
	baselineTrials                   []string // every calibration trial
	pairedFanout, pairedRotation     []trial  // run right before each round
	fanoutRounds, rotationRounds     []timing // every round
	fanoutWrites, rotationWrites     requestCounts
	fanoutStatus                     time.Duration
	fanoutErr, rotationErr           error
	newNS                            *newNSResult
	steady                           *requestCounts
	steadyDur                        time.Duration
	memFanout                        memSample
	memBefore, memAfter              memSample
	memoryDone                       bool
	memReconciles                    float64
	restart                          *restartResult
	repair                           *repairResult
	webhook                          *webhookResult
	pulls                            *pullsResult
	scaleFanout                      *scaleFanoutResult
	scaleRestart                     *scaleRestartResult
	notes                            []string
	wall                             time.Duration
}

type trial struct {
	d           time.Duration
	workers     int
	contentType string
	writes      int
	cpu         cpuUsage
}

// opPID is the running operator's process id, 0 when there is none.
func (b *bench) opPID() int {
	if b.op == nil {
		return 0
	}
	return b.op.pid()
}

func (b *bench) note(format string, args ...any) {
	b.res.notes = append(b.res.notes, fmt.Sprintf(format, args...))
}

func (b *bench) run(ctx context.Context) (err error) {
	cfg := b.cfg
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		b.profileStop = func() { pprof.StopCPUProfile(); f.Close() }
	}
	if cfg.profileDir != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return err
		}
	}
	if !cfg.managerSet {
		if err := ensureManager(ctx, b.root, cfg.manager); err != nil {
			return err
		}
	}
	b.features = probeManager(ctx, cfg.manager)
	if !strings.Contains(b.features.help, "-source-namespaces") {
		return fmt.Errorf("%s --help does not look like regcred-operator:\n%s", cfg.manager, b.features.help)
	}
	if err := b.startControlPlane(ctx); err != nil {
		return err
	}
	if err := b.setupWorld(ctx); err != nil {
		return fmt.Errorf("setting up %d namespaces: %w", cfg.n, err)
	}

	if err := b.runBaselines(ctx); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	if err := b.startOperator(ctx, nil); err != nil {
		return err
	}

	// Each scenario records its figures; a scenario that cannot finish (a
	// timeout) makes the run fail, after the table of what was measured.
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"fanout", b.scenarioFanout},
		{"rotation", b.scenarioRotation},
		{"newns", b.scenarioNewNamespaces},
		{"repair", b.scenarioRepair},
		{"steady", b.scenarioSteady},
		{"memory", b.scenarioMemory},
		{"restart", b.scenarioRestart},
		{"webhook", b.scenarioWebhook},
		{"pulls", b.scenarioPulls},
		{"scale-restart", b.scenarioScaleRestart},
		{"scale-fanout", b.scenarioScaleFanout},
	}
	var failed []error
	for _, s := range steps {
		if !cfg.scenarios[s.name] {
			continue
		}
		if ctx.Err() != nil {
			failed = append(failed, ctx.Err())
			break
		}
		if err := s.fn(ctx); err != nil {
			logf("%s: FAILED: %v", s.name, err)
			failed = append(failed, fmt.Errorf("%s: %w", s.name, err))
			if s.name == "fanout" || ctx.Err() != nil {
				break // nothing else makes sense without the copies
			}
		}
	}
	b.res.wall = time.Since(benchStart)
	// A failed or interrupted run prints what it measured but leaves the last
	// complete results file alone.
	if err := b.report(len(failed) == 0); err != nil {
		failed = append(failed, err)
	}
	return errors.Join(failed...)
}

// startControlPlane starts etcd, kube-apiserver (with the audit log) and
// kube-controller-manager through testenv, plus the users the operator and
// the baseline authenticate as.
func (b *bench) startControlPlane(ctx context.Context) error {
	var err error
	if b.dir, err = os.MkdirTemp("", "regcred-bench-"); err != nil {
		return err
	}
	realAPIServer := filepath.Join(testenv.AssetsDir(), "kube-apiserver")
	if _, err := os.Stat(realAPIServer); err != nil {
		return fmt.Errorf("no kube-apiserver in %s: run `make envtest-assets` first", testenv.AssetsDir())
	}
	wrapper, auditPath, err := apiServerWrapper(b.dir, realAPIServer, b.cfg.auditLevel)
	if err != nil {
		return err
	}
	const assetVar = "TEST_ASSET_KUBE_APISERVER"
	prev, hadPrev := os.LookupEnv(assetVar)
	os.Setenv(assetVar, wrapper)
	defer func() {
		if hadPrev {
			os.Setenv(assetVar, prev)
		} else {
			os.Unsetenv(assetVar)
		}
	}()

	opts := testenv.Options{ControllerManager: true, Client: client.Options{Scheme: scheme}}
	if b.cfg.kcmQPS > 0 {
		// The new-namespace scenario times the operator; at its default 20
		// requests per second kube-controller-manager's own client limit
		// would decide when the default ServiceAccounts appear.
		opts.ControllerManagerArgs = []string{fmt.Sprintf("--kube-api-qps=%d", b.cfg.kcmQPS), fmt.Sprintf("--kube-api-burst=%d", 2*b.cfg.kcmQPS)}
	}
	manifests := filepath.Join(b.root, "config", "webhook", "manifests.yaml")
	if b.cfg.scenarios["webhook"] && b.features.podWebhook {
		if _, err := os.Stat(manifests); err == nil {
			b.webhookOpts = &envtest.WebhookInstallOptions{Paths: []string{manifests}}
			opts.Webhook = b.webhookOpts
		}
	}
	logf("starting etcd, kube-apiserver %s (audit log on) and kube-controller-manager", testenv.K8sVersion)
	t0 := time.Now()
	if b.env, err = testenv.Start(opts); err != nil {
		return err
	}
	logf("control plane up in %s", round(time.Since(t0)))
	if err := b.removeValidatingWebhooks(ctx); err != nil {
		return err
	}
	b.note("control plane start (etcd + kube-apiserver + CRD + kube-controller-manager): %s", round(time.Since(t0)))
	if b.cfg.kcmQPS > 0 {
		b.note("kube-controller-manager runs with %v (its default of 20 requests per second throttles default ServiceAccount creation when namespaces arrive faster than that; -kcm-qps=0 keeps it)", opts.ControllerManagerArgs)
	}

	b.audit = newAuditLog(auditPath)
	actx, cancel := context.WithCancel(context.Background())
	b.auditCancel = cancel
	go b.audit.run(actx)

	adminCfg := rest.CopyConfig(b.env.Config)
	adminCfg.QPS, adminCfg.Burst = -1, 0
	adminCfg.UserAgent = "regcred-bench"
	if b.admin, err = kubernetes.NewForConfig(protobuf(adminCfg)); err != nil {
		return err
	}
	if b.crc, err = client.New(adminCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if v, err := b.admin.Discovery().ServerVersion(); err == nil {
		b.k8sVersion = v.GitVersion
	}

	opUser, err := b.env.Environment.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := opUser.KubeConfig()
	if err != nil {
		return err
	}
	b.opKubecfg = filepath.Join(b.dir, "operator.kubeconfig")
	if err := os.WriteFile(b.opKubecfg, kc, 0o600); err != nil {
		return err
	}
	baseUser, err := b.env.Environment.AddUser(envtest.User{Name: baselineUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	b.baseCfg = baseUser.Config()
	b.baseCfg.QPS, b.baseCfg.Burst = -1, 0
	b.baseCfg.UserAgent = baselineUser
	marker, err := kubernetes.NewForConfig(protobuf(b.baseCfg))
	if err != nil {
		return err
	}
	b.audit.marker = func(ctx context.Context) error {
		_, err := marker.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err
	}
	return nil
}

// removeValidatingWebhooks deletes the ValidatingWebhookConfigurations
// envtest installed from config/webhook/manifests.yaml (the tenancy guard on
// RegistryCredential writes, failurePolicy Fail): the bench measures the Pod
// webhook only, and runs the operator with --enable-tenancy-guard=false, so
// nothing would serve them and every RegistryCredential write would be
// refused.
func (b *bench) removeValidatingWebhooks(ctx context.Context) error {
	if b.webhookOpts == nil {
		return nil
	}
	for _, w := range b.webhookOpts.ValidatingWebhooks {
		if err := b.env.Client.Delete(ctx, w); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the ValidatingWebhookConfiguration %s: %w", w.Name, err)
		}
		b.note("the ValidatingWebhookConfiguration %s (%s) is removed after envtest installed it, and the operator runs with --enable-tenancy-guard=false: the bench does not measure the tenancy guard", w.Name, webhookNames(w))
	}
	return nil
}

// webhookNames lists the webhooks of a configuration.
func webhookNames(w *admissionv1.ValidatingWebhookConfiguration) string {
	names := make([]string, len(w.Webhooks))
	for i, h := range w.Webhooks {
		names[i] = h.Name
	}
	return strings.Join(names, ", ")
}

// protobuf sets the wire format controller-runtime's client uses for
// built-in types (client-go's typed clients default to JSON).
func protobuf(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return c
}

func dockerConfig(user, password string, servers ...string) string {
	var parts []string
	for _, s := range servers {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		parts = append(parts, fmt.Sprintf("%q:{\"username\":%q,\"password\":%q,\"auth\":%q}", s, user, password, auth))
	}
	return `{"auths":{` + strings.Join(parts, ",") + `}}`
}

// setupWorld creates the source, the N namespaces with their ServiceAccounts,
// and the observer.
func (b *bench) setupWorld(ctx context.Context) error {
	b.obs = newObserver(targetName, serviceAccounts)
	if err := b.obs.start(ctx, b.admin); err != nil {
		return err
	}
	if _, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sourceNS}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	b.sourceData = dockerConfig("bench", "password-1", server)
	if _, err := b.admin.CoreV1().Secrets(sourceNS).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: sourceName, Namespace: sourceNS},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(b.sourceData)},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	b.namespaces = namespaceNames(nsPrefix, b.cfg.n)
	return b.createWorld(ctx, b.namespaces, func(int) map[string]string {
		return map[string]string{labelTarget: "true", labelRounds: "true"}
	})
}

// namespaceNames are n numbered namespace names.
func namespaceNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return names
}

// createWorld creates the namespaces (namespaces[i] with labels(i)) with
// their ServiceAccounts and waits until the observer has seen all of them;
// a large world logs its progress.
func (b *bench) createWorld(ctx context.Context, namespaces []string, labels func(i int) map[string]string) error {
	logf("creating %d namespaces with %d ServiceAccounts each", len(namespaces), len(serviceAccounts))
	t0 := time.Now()
	ready := b.obs.watch(namespaces, b.obs.hasServiceAccounts)
	var done atomic.Int64
	step := max(1000, len(namespaces)/10)
	_, err := pool(ctx, 32, len(namespaces), func(ctx context.Context, i int) error {
		if err := b.createNamespace(ctx, namespaces[i], labels(i)); err != nil {
			return err
		}
		if n := done.Add(1); n%int64(step) == 0 && int(n) < len(namespaces) {
			logf("  %d of %d namespaces created", n, len(namespaces))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := b.obs.waitLogged(ctx, ready, b.generousFor(len(namespaces)), "namespaces with all their ServiceAccounts"); err != nil {
		return fmt.Errorf("waiting for the ServiceAccounts (kube-controller-manager creates default): %w", err)
	}
	logf("%d namespaces ready in %s", len(namespaces), round(time.Since(t0)))
	return nil
}

// createNamespace creates a namespace and, right after, its extra
// ServiceAccounts (kube-controller-manager adds default).
func (b *bench) createNamespace(ctx context.Context, name string, labels map[string]string) error {
	_, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, sa := range extraSAs {
		_, err := b.admin.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// operatorArgs are the operator's flags: its own kubeconfig, sources from
// regcred-system, leader election on (so Lease renewals exist and are
// counted apart), metrics on a local port (heap, reconcile counts), the Pod
// webhook off unless asked for, the tenancy guard off (see
// removeValidatingWebhooks), then -operator-args.
func (b *bench) operatorArgs(extra []string) (args, shown []string, err error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	b.op.metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	shown = []string{
		"--source-namespaces=" + sourceNS,
		"--health-probe-bind-address=0",
		"--metrics-bind-address=127.0.0.1:PORT",
		"--metrics-secure=false",
		"--leader-elect=true",
		"--leader-election-namespace=" + sourceNS,
	}
	if b.features.podWebhook && len(extra) == 0 {
		shown = append(shown, "--enable-pod-webhook=false")
	}
	if b.features.tenancyGuard {
		shown = append(shown, "--enable-tenancy-guard=false")
	}
	b.op.pprofAddr = ""
	if b.features.pprof && b.cfg.profileDir != "" {
		pp, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		b.op.pprofAddr = fmt.Sprintf("127.0.0.1:%d", pp)
		shown = append(shown, "--pprof-bind-address=127.0.0.1:PORT")
	}
	shown = append(shown, extra...)
	shown = append(shown, b.cfg.operatorArgs...)
	args = []string{"--kubeconfig=" + b.opKubecfg}
	for _, a := range shown {
		a = strings.Replace(a, "--metrics-bind-address=127.0.0.1:PORT", "--metrics-bind-address="+b.op.metricsAddr, 1)
		a = strings.Replace(a, "--pprof-bind-address=127.0.0.1:PORT", "--pprof-bind-address="+b.op.pprofAddr, 1)
		args = append(args, a)
	}
	return args, shown, nil
}

// startOperator starts the operator and waits until both its controllers run
// and it is idle.
func (b *bench) startOperator(ctx context.Context, extra []string) error {
	if b.op == nil {
		b.op = &operator{bin: b.cfg.manager, logPath: filepath.Join(b.root, "bin", "bench-operator.log")}
		b.op.env, b.opEnv = operatorEnv(b.cfg.memoryLimit)
		_ = os.Remove(b.op.logPath)
	}
	args, shown, err := b.operatorArgs(extra)
	if err != nil {
		return err
	}
	if extra == nil {
		b.opArgs = shown
	}
	logf("starting the operator: %s %s (environment %s)", rel(b.root, b.cfg.manager), strings.Join(shown, " "), b.opEnv)
	if err := b.op.start(args); err != nil {
		return err
	}
	if _, err := b.op.waitWorkers(ctx, 2*time.Minute); err != nil {
		return err
	}
	_, err = b.waitIdle(ctx, b.op.startedAt(), 0, idleStable, 2*time.Minute)
	return err
}

// controllerWork is one controller's figures in the operator's metrics.
type controllerWork struct {
	reconciles float64 // controller_runtime_reconcile_total, every result
	depth      float64 // workqueue_depth: items ready to run (not those waiting for a delay)
	active     float64 // controller_runtime_active_workers
	adds       float64 // workqueue_adds_total: items that entered the queue
}

// operatorWork is what the operator's metrics say about its controllers'
// work, by controller.
type operatorWork map[string]controllerWork

// work reads both controllers' figures; it fails when the metrics do not
// know one of them (renamed: see operatorControllers).
func (b *bench) work(ctx context.Context) (operatorWork, error) {
	m, err := b.op.metrics(ctx)
	if err != nil {
		return nil, err
	}
	w := operatorWork{}
	for _, name := range operatorControllers {
		var c controllerWork
		var found bool
		c.reconciles, found = m.sum("controller_runtime_reconcile_total", "controller", name)
		c.depth, _ = m.sum("workqueue_depth", "name", name)
		c.active, _ = m.sum("controller_runtime_active_workers", "controller", name)
		c.adds, _ = m.sum("workqueue_adds_total", "name", name)
		if !found {
			return nil, fmt.Errorf("the operator's metrics have no controller %q", name)
		}
		w[name] = c
	}
	return w, nil
}

// reconciles is the number of reconciles both controllers finished.
func (w operatorWork) reconciles() float64 {
	return w[credentialController].reconciles + w[pairController].reconciles
}

// busy: a controller has an item ready to run or a worker running one.
func (w operatorWork) busy() bool {
	for _, c := range w {
		if c.depth > 0 || c.active > 0 {
			return true
		}
	}
	return false
}

// idleWait is what waitIdle saw.
type idleWait struct {
	at            time.Time // when the final idle period began
	peakPairDepth float64   // the pair controller's highest workqueue_depth sampled meanwhile
}

// waitIdle polls the operator's metrics (every 20 ms) until its controllers
// have finished at least minReconciles reconciles together and have had
// nothing queued or running, with no new reconcile, for stable; at is when
// that idle period began. Samples start as soon as the metrics endpoint
// answers, before the workers start, so the peak depth includes what the
// informers' initial lists queued.
func (b *bench) waitIdle(ctx context.Context, since time.Time, minReconciles float64, stable, timeout time.Duration) (idleWait, error) {
	deadline := time.Now().Add(timeout)
	var idleSince time.Time
	var res idleWait
	var lastErr error
	last := -1.0
	for {
		if err := b.op.running(); err != nil {
			return idleWait{}, err
		}
		now := time.Now()
		w, err := b.work(ctx)
		lastErr = err
		if err == nil {
			res.peakPairDepth = max(res.peakPairDepth, w[pairController].depth)
			total := w.reconciles()
			switch {
			case total < minReconciles || w.busy() || total != last:
				idleSince = time.Time{}
				if total >= minReconciles && !w.busy() {
					idleSince = now
				}
			case now.Sub(idleSince) >= stable:
				res.at = idleSince
				return res, nil
			}
			last = total
		}
		if now.After(deadline) {
			if lastErr != nil {
				return idleWait{}, fmt.Errorf("operator not idle %s after %s: %w", timeout, since.Format(time.TimeOnly), lastErr)
			}
			return idleWait{}, fmt.Errorf("operator not idle %s after %s", timeout, since.Format(time.TimeOnly))
		}
		select {
		case <-ctx.Done():
			return idleWait{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// memSample is the operator's memory at one moment.
type memSample struct {
	procMemory
	heap int64 // Go heap in use, from the operator's metrics
	// the rest of the anonymous memory, from the same metrics: goroutine
	// stacks, heap pages freed but not yet returned to the OS, and the
	// runtime's own structures (spans, GC metadata, other)
	stacks, unreturned, runtime int64
}

func (m memSample) String() string {
	return fmt.Sprintf("RSS %s (anon %s, file %s), Go heap in use %s, stacks %s, freed heap not returned %s, runtime %s",
		mib(m.rss), mib(m.anon), mib(m.file), mib(m.heap), mib(m.stacks), mib(m.unreturned), mib(m.runtime))
}

// heapText is "RSS (Go heap in use heap)", as the table shows it.
func (m memSample) heapText() string {
	return fmt.Sprintf("%s (Go heap in use %s)", mib(m.rss), mib(m.heap))
}

// memory reads the operator's RSS and, from its metrics, its Go heap in use;
// with -profile-dir it also saves a heap profile (heap-N.pb.gz, after the
// sample, so the profile's forced GC does not change the figures).
func (b *bench) memory(ctx context.Context) (memSample, error) {
	pm, err := b.op.procMemory()
	if err != nil {
		return memSample{}, err
	}
	m := memSample{procMemory: pm}
	if b.cfg.profileDir != "" {
		defer func() {
			b.heapProfiles++
			path := filepath.Join(b.cfg.profileDir, fmt.Sprintf("heap-%d.pb.gz", b.heapProfiles))
			if err := b.op.fetchHeap(ctx, path); err != nil {
				logf("heap profile: %v", err)
			}
		}()
	}
	if t, err := b.op.metrics(ctx); err == nil {
		get := func(name string) int64 { v, _ := t.sum(name); return int64(v) }
		m.heap = get("go_memstats_heap_inuse_bytes")
		m.stacks = get("go_memstats_stack_inuse_bytes")
		m.unreturned = get("go_memstats_heap_idle_bytes") - get("go_memstats_heap_released_bytes")
		m.runtime = get("go_memstats_mspan_inuse_bytes") + get("go_memstats_mcache_inuse_bytes") + get("go_memstats_gc_sys_bytes") + get("go_memstats_other_sys_bytes") + get("go_memstats_buck_hash_sys_bytes")
	}
	return m, nil
}

func (b *bench) cleanup() {
	if b.profileStop != nil {
		b.profileStop()
	}
	if b.op != nil {
		b.op.stop(15 * time.Second)
	}
	if b.obs != nil {
		b.obs.close()
	}
	if b.auditCancel != nil {
		b.auditCancel()
	}
	if b.cfg.keepLogs && b.audit != nil {
		if err := copyFile(b.audit.path, filepath.Join(b.root, "bin", "bench-audit.log")); err != nil {
			logf("copying the audit log: %v", err)
		}
	}
	if b.env != nil {
		logf("stopping the control plane")
		if err := b.env.Stop(); err != nil {
			logf("stopping the control plane: %v", err)
		}
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pool runs fn(0..n-1) on workers goroutines and returns the wall time; the
// first error stops it.
func pool(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// latencies summarises a set of durations.
type latencies struct {
	count    int
	p50, p99 time.Duration
	max      time.Duration
}

func summarize(ds []time.Duration) *latencies {
	if len(ds) == 0 {
		return &latencies{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return &latencies{count: len(s), p50: q(0.50), p99: q(0.99), max: s[len(s)-1]}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
