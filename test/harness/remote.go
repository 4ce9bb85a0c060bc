package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Forward listens on listen (host:port, port 0 for any) and copies every connection to
// and from upstream: how the e2e node's pods, which reach the host only on the bridge
// address, get to a server the host runs on loopback. It returns the address it listens
// on; closing ctx stops it.
func Forward(ctx context.Context, listen, upstream string) (string, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("listening on %s: %w", listen, err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return l.Addr().String(), nil
}

// TokenKubeconfig asks the TokenRequest API of the cluster admin points at for an hour's
// token of the ServiceAccount ns/sa, and returns a kubeconfig that authenticates with it
// and nothing else, for server (empty: admin's) with admin's CA, in namespace ns.
func TokenKubeconfig(ctx context.Context, admin *rest.Config, server, ns, sa string) ([]byte, error) {
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	expiry := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for %s/%s: %w", ns, sa, err)
	}
	ca := admin.CAData
	if len(ca) == 0 && admin.CAFile != "" {
		if ca, err = os.ReadFile(admin.CAFile); err != nil {
			return nil, err
		}
	}
	if len(ca) == 0 {
		return nil, fmt.Errorf("the admin configuration has no CA")
	}
	if server == "" {
		server = admin.Host
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[sa] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: sa, Namespace: ns}
	kc.CurrentContext = sa
	return clientcmd.Write(*kc)
}
