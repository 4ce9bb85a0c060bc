package actions_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/iter8-tools/iter8-tekton/pkg/actions"
)

// TestNotificationHTTPSecretScope: notification/http reads no Secret outside the
// experiment's namespace and sends a Secret's values only in its authentication, checked
// before anything is read or sent; validate and Run agree.
func TestNotificationHTTPSecretScope(t *testing.T) {
	rec := newRecorder(t, http.StatusOK)
	store := &secrets{data: map[string]map[string][]byte{
		"kube-system/admin-creds": {"token": []byte("s3cr3t-admin")},
		"team/creds":              {"token": []byte("s3cr3t-tok"), "apikey": []byte("s3cr3t-key")},
	}}
	for _, tc := range []struct {
		name, with, want string
	}{{
		name: "a secret of another namespace",
		with: `{authType: Bearer, secret: kube-system/admin-creds}`,
		want: `invalid value: kube-system/admin-creds: spec.strategy.actions.finish[0].with.secret
secrets are read only from the experiment's namespace (team)`,
	}, {
		name: "the secret in the body",
		with: `{authType: APIKey, secret: creds, body: "token=@< .secret.token >@"}`,
		want: `invalid value: token=@< .secret.token >@: spec.strategy.actions.finish[0].with.body
a secret's values are sent only in authentication (authType, and the headers of authType APIKey), never in a body`,
	}, {
		name: "the secret in the body, through index",
		with: `{authType: APIKey, secret: creds, body: "@< index . \"secret\" >@"}`,
		want: `invalid value: @< index . "secret" >@: spec.strategy.actions.finish[0].with.body
a secret's values are sent only in authentication (authType, and the headers of authType APIKey), never in a body`,
	}, {
		name: "the secret in the body, through $",
		with: `{authType: APIKey, secret: creds, body: "@< with .this >@@< $.secret.token >@@< end >@"}`,
		want: `invalid value: @< with .this >@@< $.secret.token >@@< end >@: spec.strategy.actions.finish[0].with.body
a secret's values are sent only in authentication (authType, and the headers of authType APIKey), never in a body`,
	}, {
		name: "the secret in a header of Bearer",
		with: `{authType: Bearer, secret: creds, headers: [{name: X-Leak, value: "@< .secret.apikey >@"}]}`,
		want: `invalid value: @< .secret.apikey >@: spec.strategy.actions.finish[0].with.headers[0].value
only the headers of authType APIKey may use .secret`,
	}, {
		name: "the secret in a header without authType",
		with: `{secret: creds, headers: [{name: X-Leak, value: "@< .secret.apikey >@"}]}`,
		want: `invalid value: @< .secret.apikey >@: spec.strategy.actions.finish[0].with.headers[0].value
only the headers of authType APIKey may use .secret`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			exp := notifyExperiment(t, `{url: "`+rec.srv.URL+`/hook", `+strings.TrimPrefix(tc.with, "{"))
			ferr := actions.Validate(exp)
			if ferr == nil {
				t.Fatal("Validate accepted it")
			}
			if diff := cmp.Diff(tc.want, ferr.Error()); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			store.read = nil
			var out bytes.Buffer
			err := actions.Run(context.Background(), actions.Env{Out: &out, Secrets: store.get}, exp, "finish")
			if err == nil {
				t.Fatal("Run accepted it")
			}
			if len(store.read) > 0 {
				t.Errorf("Run read %q", store.read)
			}
		})
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("the server got %d requests", n)
	}
}

// TestNotificationHTTPNoCredentialsOnARedirect: a hook that redirects to another host gets
// the credentials; the other host does not.
func TestNotificationHTTPNoCredentialsOnARedirect(t *testing.T) {
	other := newRecorder(t, http.StatusOK)
	otherURL := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(origin.Close)
	store := &secrets{data: map[string]map[string][]byte{
		"team/creds": {"username": []byte("ann"), "password": []byte("s3cr3t-pw"), "token": []byte("s3cr3t-tok"), "apikey": []byte("s3cr3t-key")},
	}}
	for _, with := range []string{
		`{authType: Basic, secret: creds}`,
		`{authType: Bearer, secret: creds}`,
		`{authType: APIKey, secret: creds, headers: [{name: X-Api-Key, value: "@< .secret.apikey >@"}]}`,
	} {
		exp := notifyExperiment(t, `{url: "`+origin.URL+`/hook", ignoreFailure: false, `+strings.TrimPrefix(with, "{"))
		if err := actions.Run(context.Background(), actions.Env{Secrets: store.get}, exp, "finish"); err != nil {
			t.Errorf("%s: %v", with, err)
		}
	}
	reqs := other.requests()
	if len(reqs) != 3 {
		t.Fatalf("the other host got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		for k, v := range r.Header {
			if strings.Contains(strings.Join(v, " "), "s3cr3t") || strings.Contains(strings.Join(v, " "), "YW5uOnMzY3IzdC1wdw") {
				t.Errorf("the other host got %s: %q", k, v)
			}
		}
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			t.Errorf("the other host got credentials: %v", r.Header)
		}
	}
}
