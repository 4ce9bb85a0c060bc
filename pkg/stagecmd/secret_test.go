package stagecmd

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/iter8-tools/iter8-tekton/pkg/credential"
)

func secretObject(name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name, "namespace": "ns", "annotations": map[string]any{credential.AllowedHostsAnnotation: "prometheus.monitoring"}},
		"data":     data,
	}}
}

func TestReadSecret(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(),
		secretObject("auth", map[string]any{"username": "YWRtaW4=", "token": "czNjcjN0", "empty": ""}))
	got, err := readSecret(context.Background(), dyn, "ns", "auth")
	if err != nil {
		t.Fatal(err)
	}
	want := &credential.Secret{Namespace: "ns", Name: "auth",
		Data:        map[string]string{"username": "admin", "token": "s3cr3t", "empty": ""},
		Annotations: map[string]string{credential.AllowedHostsAnnotation: "prometheus.monitoring"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readSecret (-want +got):\n%s", diff)
	}
}

func TestReadSecretErrors(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(),
		secretObject("bad", map[string]any{"token": "not base64!"}))
	for _, tc := range []struct {
		name, secret, want string
	}{
		{"missing", "nope", `reading secret ns/nope: secrets "nope" not found`},
		{"not base64", "bad", "reading secret ns/bad: key token: illegal base64 data at input byte 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readSecret(context.Background(), dyn, "ns", tc.secret)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
