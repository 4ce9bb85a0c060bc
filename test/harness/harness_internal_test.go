package harness

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNamespacePrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TestFoo", "testfoo-"},
		{"TestFoo/bar_baz", "testfoo-bar-baz-"},
		{"Test__X//", "test-x-"},
		{"///", "test-"},
		{"TestAVeryLongNameThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOn", "testaverylongnamethatgoesonandonandonandonandonand-"},
	} {
		if diff := cmp.Diff(tc.want, namespacePrefix(tc.in)); diff != "" {
			t.Errorf("namespacePrefix(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestScrapeConfig(t *testing.T) {
	want := `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: iter8-test
  static_configs:
  - targets: ["127.0.0.1:1", "127.0.0.1:2"]
`
	if diff := cmp.Diff(want, scrapeConfig([]string{"127.0.0.1:1", "127.0.0.1:2"})); diff != "" {
		t.Errorf("scrapeConfig (-want +got):\n%s", diff)
	}
}

func TestTail(t *testing.T) {
	if diff := cmp.Diff("c\nd", tail("a\nb\nc\nd\n", 2)); diff != "" {
		t.Error(diff)
	}
}
