// Package credential decides where the values of a Kubernetes Secret may go.
//
// An Experiment or a Metric names a Secret; its author may not be allowed to read it. So
// a Secret's values go only into the authentication of a request (the Authorization
// header, or the headers an API key is sent in), never into a URL, a body or any other
// template; a Secret is used only if it says, in its AllowedHostsAnnotation, which hosts
// it may be sent to; it is read only from the namespaces the caller allows (the
// Experiment's or the Metric's own); and the headers of a request that leaves its host
// on a redirect are dropped (RedirectPolicy).
package credential

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// AllowedHostsAnnotation lists, separated by commas or white space, the hosts a Secret's
// values may be sent to: "prometheus.monitoring.svc", "api.newrelic.com:443",
// "*.example.com" (any subdomain, not example.com itself). Without it the Secret is not
// used.
const AllowedHostsAnnotation = "iter8.tools/allowed-hosts"

// Secret is what the stages read of a Kubernetes Secret.
type Secret struct {
	Namespace string
	Name      string
	// Data holds the decoded values.
	Data        map[string]string
	Annotations map[string]string
}

// Getter reads the Secret namespace/name.
type Getter func(ctx context.Context, namespace, name string) (*Secret, error)

func (s *Secret) String() string { return s.Namespace + "/" + s.Name }

// ParseRef parses a reference, "name" or "namespace/name"; the namespace of a bare name
// is empty.
func ParseRef(ref string) (namespace, name string, err error) {
	ns, name, found := strings.Cut(ref, "/")
	if !found {
		ns, name = "", ref
	}
	if name == "" || (found && ns == "") || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("secret %q: a secret is name or namespace/name", ref)
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", "", fmt.Errorf("secret %q: invalid name: %s", ref, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(ns); found && len(msgs) > 0 {
		return "", "", fmt.Errorf("secret %q: invalid namespace: %s", ref, strings.Join(msgs, "; "))
	}
	return ns, name, nil
}

// Resolve parses a reference, "name" or "namespace/name". A bare name is in
// namespaces[0]; a namespace must be one of namespaces, so that whoever writes the
// reference reaches no Secret outside the namespaces of the objects they write.
func Resolve(ref string, namespaces ...string) (namespace, name string, err error) {
	ns, name, err := ParseRef(ref)
	if err != nil {
		return "", "", err
	}
	var allowed []string
	for _, n := range namespaces {
		if n != "" && !slices.Contains(allowed, n) {
			allowed = append(allowed, n)
		}
	}
	if len(allowed) == 0 {
		return "", "", fmt.Errorf("secret %q: no namespace to read it from", ref)
	}
	if ns == "" {
		return allowed[0], name, nil
	}
	if !slices.Contains(allowed, ns) {
		return "", "", fmt.Errorf("secret %q: secrets are read only from namespace %s, not %s", ref, strings.Join(allowed, " or "), ns)
	}
	return ns, name, nil
}

// AllowedHosts returns the host patterns of the Secret's AllowedHostsAnnotation.
func (s *Secret) AllowedHosts() []string {
	return strings.FieldsFunc(s.Annotations[AllowedHostsAnnotation], func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
}

// ErrHostNotAllowed is the error of CheckURL when the Secret may not be sent to a URL.
var ErrHostNotAllowed = errors.New("host not allowed")

// CheckURL says whether the Secret's values may be sent to u: u is http or https and its
// host matches a pattern of the AllowedHostsAnnotation. A pattern with a port matches
// that port only (a URL without one has its scheme's).
func (s *Secret) CheckURL(u *url.URL) error {
	patterns := s.AllowedHosts()
	if len(patterns) == 0 {
		return fmt.Errorf("secret %s: %w: the secret does not say where it may be sent; annotate it with %s: <host>[,<host>...]",
			s, ErrHostNotAllowed, AllowedHostsAnnotation)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("secret %s: %w: only http and https URLs get credentials", s, ErrHostNotAllowed)
	}
	host, port := hostPort(u)
	for _, p := range patterns {
		if matchHost(p, host, port) {
			return nil
		}
	}
	return fmt.Errorf("secret %s: %w: %s is not in its %s (%s)", s, ErrHostNotAllowed,
		net.JoinHostPort(host, port), AllowedHostsAnnotation, strings.Join(patterns, ", "))
}

// hostPort returns u's host, lowercased without a trailing dot, and port, the scheme's
// when u has none.
func hostPort(u *url.URL) (string, string) {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return host, port
}

func matchHost(pattern, host, port string) bool {
	pattern = strings.ToLower(pattern)
	pHost, pPort := pattern, ""
	if h, p, err := net.SplitHostPort(pattern); err == nil {
		pHost, pPort = h, p
	}
	pHost = strings.TrimSuffix(strings.Trim(pHost, "[]"), ".")
	if pPort != "" && pPort != port {
		return false
	}
	if suffix, ok := strings.CutPrefix(pHost, "*."); ok {
		return suffix != "" && strings.HasSuffix(host, "."+suffix)
	}
	return pHost != "" && pHost == host
}

// keptOnRedirect are the request headers that follow a redirect to another host: none
// that may carry a credential or anything else an author set.
var keptOnRedirect = []string{"Accept", "Accept-Encoding", "Content-Type", "User-Agent"}

// maxRedirects is net/http's default.
const maxRedirects = 10

// RedirectPolicy is an http.Client's CheckRedirect: it follows up to 10 redirects and,
// when a redirect leaves the scheme, host and port of the first request, sends none of
// its headers but keptOnRedirect. net/http alone would forward custom headers (an API
// key) anywhere, and Authorization to subdomains.
func RedirectPolicy(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	fh, fp := hostPort(first)
	h, p := hostPort(req.URL)
	if req.URL.Scheme != first.Scheme || h != fh || p != fp {
		kept := http.Header{}
		for _, k := range keptOnRedirect {
			if v := req.Header.Values(k); len(v) > 0 {
				kept[k] = v
			}
		}
		req.Header = kept
	}
	return nil
}

// Client returns a copy of c (http.DefaultClient when nil) that follows redirects with
// RedirectPolicy.
func Client(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	cc.CheckRedirect = RedirectPolicy
	return &cc
}
