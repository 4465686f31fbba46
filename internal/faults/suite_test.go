//go:build faults

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

package faults

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
	"github.com/regcred/regcred-operator/internal/testenv"
)

const (
	sourceNS = testenv.OperatorNamespace
	server   = "private-registry.io"
	// password is the credential in the sources; the operator's log must
	// never hold it.
	password = "f4ult-Pa55w0rd-q7"
	// operatorUser is who the operator is to the API server.
	// leaseName is the operator's leader election Lease.
	leaseName    = "regcred-operator.registry.regcred.dev"
	operatorUser = "system:serviceaccount:" + testenv.OperatorNamespace + ":" + testenv.OperatorServiceAccount
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(registryv1alpha1.AddToScheme(scheme))
}

// suiteState is what every case shares.
type suiteState struct {
	env        *testenv.Env
	k8s        client.Client
	binary     string
	kubeconfig string
	certDir    string
	audit      string
	logMu      sync.Mutex
	logFile    *os.File
	logText    strings.Builder
}

var suite suiteState

// log keeps one line of a replica's output.
func (s *suiteState) log(name, line string) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.logFile, "[%s] %s\n", name, line)
	s.logText.WriteString(line)
	s.logText.WriteByte('\n')
}

// logged is everything the replicas wrote so far.
func (s *suiteState) logged() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logText.String()
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "regcred-faults-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(testenv.RepoRoot(), "bin", "faults-operator.log")
	_ = os.MkdirAll(filepath.Dir(logPath), 0o755)
	if suite.logFile, err = os.Create(logPath); err != nil {
		return 0, err
	}
	defer suite.logFile.Close()

	suite.binary = filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", suite.binary, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("building the operator: %w", err)
	}
	suite.audit = filepath.Join(dir, "audit.log")
	env, err := testenv.Start(testenv.Options{ControllerManager: true, AuditLog: suite.audit, Client: client.Options{Scheme: scheme}})
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	suite.env, suite.k8s = env, env.Client
	ctx := context.Background()
	if err := suite.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sourceNS}}); err != nil {
		return 0, err
	}
	cfg, err := env.OperatorConfig(ctx)
	if err != nil {
		return 0, err
	}
	suite.kubeconfig = filepath.Join(dir, "operator.kubeconfig")
	if err := writeKubeconfig(suite.kubeconfig, cfg); err != nil {
		return 0, err
	}
	suite.certDir = filepath.Join(dir, "certs")
	if err := selfSignedCert(suite.certDir); err != nil {
		return 0, err
	}
	code := m.Run()
	if leaks := testenv.Leaks(suite.logged(), password); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the operator's log holds the test credential: %v\n", leaks)
		code = 1
	}
	fmt.Fprintf(os.Stderr, "operator log: %s\n", logPath)
	return code, nil
}

// selfSignedCert writes tls.crt and tls.key for 127.0.0.1 into dir: the
// replicas serve the Pod webhook with it (no rotation).
func selfSignedCert(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// auditWrites counts the operator's writes in the audit log since t,
// Lease renewals apart, and names them.
func auditWrites(since time.Time) (int, []string, error) {
	f, err := os.Open(suite.audit)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var ev struct {
			Stage             string                                     `json:"stage"`
			Verb              string                                     `json:"verb"`
			User              struct{ Username string }                  `json:"user"`
			ObjectRef         struct{ Resource, Namespace, Name string } `json:"objectRef"`
			RequestReceivedAt metav1.MicroTime                           `json:"requestReceivedTimestamp"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" || ev.User.Username != operatorUser {
			continue
		}
		// the Lease, and the Events leader election records on it
		// ("<replica> became leader"), are leader election's own.
		if ev.ObjectRef.Resource == "leases" || (ev.ObjectRef.Resource == "events" && strings.HasPrefix(ev.ObjectRef.Name, leaseName+".")) ||
			ev.RequestReceivedAt.Time.Before(since) {
			continue
		}
		names = append(names, ev.Verb+" "+ev.ObjectRef.Resource+" "+ev.ObjectRef.Namespace+"/"+ev.ObjectRef.Name)
	}
	return len(names), names, sc.Err()
}
