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

package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	registryv1alpha1 "github.com/regcred/regcred-operator/api/v1alpha1"
)

func refs(names ...string) []corev1.LocalObjectReference {
	var out []corev1.LocalObjectReference
	for _, n := range names {
		out = append(out, corev1.LocalObjectReference{Name: n})
	}
	return out
}

func TestPlanServiceAccount(t *testing.T) {
	const uid = types.UID("uid-1")
	key := RecordAnnotation("rc")
	ours := func(secret string) string { return FormatRecord(secret, uid) }
	sa := func(record string, names ...string) *corev1.ServiceAccount {
		s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns"}, ImagePullSecrets: refs(names...)}
		if record != "" {
			s.Annotations = map[string]string{key: record, "other": "kept"}
		}
		return s
	}
	cases := map[string]struct {
		in         *corev1.ServiceAccount
		target     string
		intent     saIntent
		unchanged  bool
		wantNames  []string
		wantRecord string // "" = no record
	}{
		"add to empty":                {in: sa(""), target: "t", intent: saList, wantNames: []string{"t"}, wantRecord: ours("t")},
		"append after others":         {in: sa("", "a", "b"), target: "t", intent: saList, wantNames: []string{"a", "b", "t"}, wantRecord: ours("t")},
		"already ours":                {in: sa(ours("t"), "a", "t"), target: "t", intent: saList, unchanged: true},
		"listed by someone else":      {in: sa("", "t"), target: "t", intent: saList, unchanged: true},
		"ours removed by user re-add": {in: sa(ours("t"), "a"), target: "t", intent: saList, wantNames: []string{"a", "t"}, wantRecord: ours("t")},
		"renamed target":              {in: sa(ours("old"), "a", "old"), target: "new", intent: saList, wantNames: []string{"a", "new"}, wantRecord: ours("new")},
		"renamed, new one user's":     {in: sa(ours("old"), "new", "old"), target: "new", intent: saList, wantNames: []string{"new"}},
		"withdraw ours only":          {in: sa(ours("t"), "a", "t", "b"), target: "t", intent: saWithdraw, wantNames: []string{"a", "b"}},
		"withdraw last entry":         {in: sa(ours("t"), "t"), target: "t", intent: saWithdraw, wantNames: nil},
		"withdraw nothing recorded":   {in: sa("", "a", "t"), target: "t", intent: saWithdraw, unchanged: true},
		"withdraw recorded old name":  {in: sa(ours("old"), "old", "t"), target: "t", intent: saWithdraw, wantNames: []string{"t"}},
		// a namesake's record (another UID): never ours to remove.
		"withdraw namesake's record": {in: sa(FormatRecord("t", "uid-0"), "a", "t"), target: "t", intent: saWithdraw, unchanged: true},
		"release namesake's record":  {in: sa(FormatRecord("t", "uid-0"), "t"), target: "t", intent: saRelease, unchanged: true},
		"list over namesake, listed": {in: sa(FormatRecord("t", "uid-0"), "t"), target: "t", intent: saList, unchanged: true},
		// adding our own entry replaces the namesake's record; its entry stays.
		"list over namesake, missing": {in: sa(FormatRecord("old", "uid-0"), "old"), target: "t", intent: saList, wantNames: []string{"old", "t"}, wantRecord: ours("t")},
		// records without a UID (older versions) are nobody's.
		"withdraw legacy record": {in: sa("t", "t"), target: "t", intent: saWithdraw, unchanged: true},
		// Orphan: the record goes, the entry stays.
		"release ours":          {in: sa(ours("t"), "a", "t"), target: "t", intent: saRelease, wantNames: []string{"a", "t"}},
		"release, nothing ours": {in: sa("", "t"), target: "t", intent: saRelease, unchanged: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.in.DeepCopy()
			ref := credentialRef{name: "rc", uid: uid, target: tc.target}
			got := planServiceAccount(tc.in, ref, tc.intent)
			if settled := serviceAccountSettled(tc.in, ref, tc.intent); settled != (got == nil) {
				t.Fatalf("serviceAccountSettled = %v, but planServiceAccount planned %v", settled, got)
			}
			if !reflect.DeepEqual(before, tc.in) {
				t.Fatal("input modified")
			}
			if tc.unchanged {
				if got != nil {
					t.Fatalf("want no change, got %v", got.ImagePullSecrets)
				}
				return
			}
			if got == nil {
				t.Fatal("want a change, got none")
			}
			var names []string
			for _, r := range got.ImagePullSecrets {
				names = append(names, r.Name)
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Errorf("imagePullSecrets = %v, want %v", names, tc.wantNames)
			}
			rec, has := got.Annotations[key]
			if tc.wantRecord == "" && has {
				t.Errorf("record %q left behind", rec)
			}
			if tc.wantRecord != "" && rec != tc.wantRecord {
				t.Errorf("record = %q, want %q", rec, tc.wantRecord)
			}
			if before.Annotations["other"] != "" && got.Annotations["other"] != "kept" {
				t.Error("other annotations must stay")
			}

			// The merge patch we send turns the cached object into the plan.
			tc.in.ResourceVersion = "42"
			body, err := serviceAccountPatch(tc.in, got)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := json.Marshal(tc.in)
			merged, err := jsonpatch.MergePatch(orig, body)
			if err != nil {
				t.Fatalf("patch %s: %v", body, err)
			}
			var patched corev1.ServiceAccount
			if err := json.Unmarshal(merged, &patched); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(patched.ImagePullSecrets, got.ImagePullSecrets) || !reflect.DeepEqual(patched.Annotations, got.Annotations) {
				t.Errorf("patch %s gives %v %v, want %v %v", body, patched.ImagePullSecrets, patched.Annotations, got.ImagePullSecrets, got.Annotations)
			}
			if !bytes.Contains(body, []byte(`"resourceVersion":"42"`)) {
				t.Errorf("patch %s carries no resourceVersion precondition", body)
			}
		})
	}
}

func TestCopyDrift(t *testing.T) {
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", UID: types.UID("uid-1")},
		Spec:       registryv1alpha1.RegistryCredentialSpec{SecretRef: registryv1alpha1.SecretReference{Namespace: "src", Name: "regcred"}},
	}
	src := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}
	hash := digest(src.Type, src.Data)
	fresh := func() *corev1.Secret {
		c := desiredCopy(rc, src, "ns")
		out, _ := digestCopies(c.DeepCopy())
		return out.(*corev1.Secret)
	}
	if d := copyDrift(fresh(), digestOf(fresh()), rc, src.Type, hash); d != "" {
		t.Fatalf("a fresh copy drifts: %s", d)
	}
	yes := true
	cases := map[string]func(*corev1.Secret){
		"type":                func(c *corev1.Secret) { c.Type = corev1.SecretTypeDockercfg },
		"immutable":           func(c *corev1.Secret) { c.Immutable = &yes },
		"data":                func(c *corev1.Secret) { c.Annotations[annotationDataDigest] = "x" },
		"source annotation":   func(c *corev1.Secret) { delete(c.Annotations, AnnotationSource) },
		"labels":              func(c *corev1.Secret) { c.Labels[LabelCredential] = "other" },
		"tracking label":      func(c *corev1.Secret) { c.Labels["app.kubernetes.io/instance"] = "x" },
		"tracking annotation": func(c *corev1.Secret) { c.Annotations["argocd.argoproj.io/sync-options"] = "Prune=false" },
	}
	for want, mutate := range cases {
		t.Run(want, func(t *testing.T) {
			c := fresh()
			mutate(c)
			if got := copyDrift(c, digestOf(c), rc, src.Type, hash); got != want {
				t.Errorf("drift = %q, want %q", got, want)
			}
		})
	}
}

func TestDigestCopies(t *testing.T) {
	data := map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.io":{"auth":"c2VjcmV0"}}}`)}
	copy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelManagedBy: ManagedByValue}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Type:       corev1.SecretTypeDockerConfigJson, Data: data,
	}
	out, _ := digestCopies(copy)
	s := out.(*corev1.Secret)
	if s.Data != nil || s.ManagedFields != nil {
		t.Fatal("copy data and managedFields must be dropped")
	}
	want := digest(corev1.SecretTypeDockerConfigJson, data)
	if digestOf(s) != want {
		t.Fatal("digest of the data missing")
	}
	again, _ := digestCopies(s)
	if digestOf(again.(*corev1.Secret)) != want {
		t.Fatal("transform is not idempotent")
	}
	source := &corev1.Secret{Data: data}
	out, _ = digestCopies(source)
	if !bytes.Equal(out.(*corev1.Secret).Data[".dockerconfigjson"], data[".dockerconfigjson"]) || digestOf(out.(*corev1.Secret)) != "" {
		t.Fatal("sources keep their data, and carry no digest")
	}
	if digest("a", map[string][]byte{"k": []byte("v")}) == digest("a", map[string][]byte{"kv": nil}) {
		t.Fatal("digest must separate keys from values")
	}
}

// TestComputeStatus: the Ready condition each summary leads to, and the
// counts kept when the namespaces could not be looked at.
func TestComputeStatus(t *testing.T) {
	rc := &registryv1alpha1.RegistryCredential{
		ObjectMeta: metav1.ObjectMeta{Name: "rc", Generation: 3},
		Spec:       registryv1alpha1.RegistryCredentialSpec{SecretRef: registryv1alpha1.SecretReference{Namespace: "src", Name: "regcred"}},
		Status: registryv1alpha1.RegistryCredentialStatus{SelectedNamespaces: 7, SyncedNamespaces: 7, Conditions: []metav1.Condition{
			// left from an earlier state: each case must set or remove them
			{Type: registryv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old", ObservedGeneration: 2},
			{Type: registryv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "Old", ObservedGeneration: 2},
		}},
	}
	conflict := registryv1alpha1.NamespaceFailure{Namespace: "a", Reason: registryv1alpha1.ReasonConflict}
	failed := registryv1alpha1.NamespaceFailure{Namespace: "b", Reason: registryv1alpha1.ReasonSyncFailed}
	many := make([]registryv1alpha1.NamespaceFailure, 15)
	for i := range many {
		many[i] = registryv1alpha1.NamespaceFailure{Namespace: fmt.Sprintf("ns-%02d", i), Reason: registryv1alpha1.ReasonSyncFailed}
	}
	cases := map[string]struct {
		sum                      summary
		status                   metav1.ConditionStatus
		reason, namespaces       string
		failures, failuresListed int
	}{
		"synced":      {sum: summary{selected: 3, synced: 3}, status: metav1.ConditionTrue, reason: registryv1alpha1.ReasonSynced, namespaces: "3/3"},
		"nothing":     {sum: summary{}, status: metav1.ConditionTrue, reason: registryv1alpha1.ReasonSynced, namespaces: "0/0"},
		"progressing": {sum: summary{selected: 3, synced: 1}, status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonProgressing, namespaces: "1/3"},
		"conflict wins over errors": {sum: summary{selected: 3, synced: 1, failures: []registryv1alpha1.NamespaceFailure{conflict, failed}, conflicts: 1},
			status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonConflict, namespaces: "1/3", failures: 2, failuresListed: 2},
		"errors": {sum: summary{selected: 3, synced: 2, failures: []registryv1alpha1.NamespaceFailure{failed}},
			status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonSyncFailed, namespaces: "2/3", failures: 1, failuresListed: 1},
		"failures listed up to 10": {sum: summary{selected: 20, synced: 5, failures: many},
			status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonSyncFailed, namespaces: "5/20", failures: 15, failuresListed: registryv1alpha1.MaxFailures},
		"stalled on an invalid source": {sum: summary{problem: problem{registryv1alpha1.ReasonSourceInvalid, "bad"}},
			status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonSourceInvalid, namespaces: "7/7"},
		"source problem keeps counts": {sum: summary{problem: problem{registryv1alpha1.ReasonSourceNotFound, "gone"}},
			status: metav1.ConditionFalse, reason: registryv1alpha1.ReasonSourceNotFound, namespaces: "7/7"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := computeStatus(rc, tc.sum)
			var ready *metav1.Condition
			for i := range st.Conditions {
				if st.Conditions[i].Type == registryv1alpha1.ConditionReady {
					ready = &st.Conditions[i]
				}
			}
			if ready == nil || ready.Status != tc.status || ready.Reason != tc.reason || ready.ObservedGeneration != 3 {
				t.Fatalf("Ready = %+v, want %s/%s at generation 3", ready, tc.status, tc.reason)
			}
			// kstatus: Reconciling while working, Stalled when a person must act,
			// neither once Ready; both carry Ready's reason.
			wantStalled := tc.status == metav1.ConditionFalse && registryv1alpha1.StalledReason(tc.reason)
			wantReconciling := tc.status == metav1.ConditionFalse && !wantStalled
			for typ, want := range map[string]bool{registryv1alpha1.ConditionStalled: wantStalled, registryv1alpha1.ConditionReconciling: wantReconciling} {
				c := apimeta.FindStatusCondition(st.Conditions, typ)
				if (c != nil) != want || (c != nil && (c.Status != metav1.ConditionTrue || c.Reason != tc.reason || c.ObservedGeneration != 3)) {
					t.Errorf("%s = %+v, want present=%v with reason %s", typ, c, want, tc.reason)
				}
			}
			if st.Namespaces != tc.namespaces || st.ObservedGeneration != 3 {
				t.Errorf("namespaces %q (observed %d), want %q", st.Namespaces, st.ObservedGeneration, tc.namespaces)
			}
			if int(st.FailedNamespaces) != tc.failures || len(st.Failures) != tc.failuresListed {
				t.Errorf("failures %d listed %d, want %d listed %d", st.FailedNamespaces, len(st.Failures), tc.failures, tc.failuresListed)
			}
		})
	}
}
