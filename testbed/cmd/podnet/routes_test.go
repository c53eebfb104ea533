package main

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, podCIDRs []string, internalIPs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Spec.PodCIDRs = podCIDRs
	for _, a := range internalIPs {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
	}
	return n
}

var (
	self    = node("control-plane", []string{"10.244.0.0/24", "fd00:10:244::/64"}, "172.18.0.2", "fc00:f853:ccd:e793::2")
	worker  = node("worker", []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, "172.18.0.3", "fc00:f853:ccd:e793::3")
	worker2 = node("worker2", []string{"10.244.2.0/24", "fd00:10:244:2::/64"}, "172.18.0.4", "fc00:f853:ccd:e793::4")
)

func TestDesiredRoutesAreTheOtherNodesRangesViaTheirAddressOfTheSameFamily(t *testing.T) {
	got := desiredRoutes("control-plane", []*corev1.Node{self, worker, node("no-address", []string{"10.244.3.0/24"})})
	want := []route{
		{"10.244.1.0/24", "172.18.0.3"},
		{"fd00:10:244:1::/64", "fc00:f853:ccd:e793::3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("desired routes: got %v, want %v", got, want)
	}
}

// A deleted node's routes were left in place: the kernel kept sending its pod ranges to an address that
// no longer belongs to it.
func TestADeletedNodesRoutesAreRemoved(t *testing.T) {
	current := []route{
		{"10.244.1.0/24", "172.18.0.3"},
		{"fd00:10:244:1::/64", "fc00:f853:ccd:e793::3"},
		{"10.244.2.0/24", "172.18.0.4"},
		{"fd00:10:244:2::/64", "fc00:f853:ccd:e793::4"},
	}
	replace, remove := planRoutes(desiredRoutes("control-plane", []*corev1.Node{self, worker}), current)
	if len(replace) != 0 {
		t.Errorf("replace: got %v, want none", replace)
	}
	want := []route{{"10.244.2.0/24", "172.18.0.4"}, {"fd00:10:244:2::/64", "fc00:f853:ccd:e793::4"}}
	if !reflect.DeepEqual(remove, want) {
		t.Errorf("remove: got %v, want %v", remove, want)
	}
}

func TestMissingAndMovedRoutesAreReplacedAndTheRestLeftAlone(t *testing.T) {
	current := []route{
		{"10.244.1.0/24", "172.18.0.9"},                   // the node's address changed
		{"fd00:10:244:1::/64", "fc00:f853:ccd:e793:0::3"}, // the same address, written another way
	}
	replace, remove := planRoutes(desiredRoutes("control-plane", []*corev1.Node{self, worker, worker2}), current)
	want := []route{
		{"10.244.1.0/24", "172.18.0.3"},
		{"10.244.2.0/24", "172.18.0.4"},
		{"fd00:10:244:2::/64", "fc00:f853:ccd:e793::4"},
	}
	if !reflect.DeepEqual(replace, want) {
		t.Errorf("replace: got %v, want %v", replace, want)
	}
	if len(remove) != 0 {
		t.Errorf("remove: got %v, want none", remove)
	}
}

// `ip -j route show` as iproute2 prints it: a host route without its length.
func TestParseRoutesReadsTheKernelsListing(t *testing.T) {
	out := `[{"dst":"10.9.9.9","gateway":"10.0.0.2","dev":"v0","flags":[]},` +
		`{"dst":"10.244.1.0/24","gateway":"10.0.0.2","dev":"v0","flags":[]}]`
	got, err := parseRoutes([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []route{{"10.9.9.9", "10.0.0.2"}, {"10.244.1.0/24", "10.0.0.2"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, want := canonicalPrefix("10.9.9.9"), "10.9.9.9/32"; got != want {
		t.Errorf("canonicalPrefix: got %s, want %s", got, want)
	}
	if _, remove := planRoutes([]route{{"10.9.9.9/32", "10.0.0.2"}}, got[:1]); len(remove) != 0 {
		t.Errorf("a host route listed without its length was taken for another: remove %v", remove)
	}
}
