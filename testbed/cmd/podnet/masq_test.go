package main

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMasqRangesAreEveryNodesPodRangesOfOneFamily(t *testing.T) {
	nodes := []*corev1.Node{
		node("worker", []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, "172.18.0.3"),
		node("control-plane", []string{"10.244.0.0/24", "fd00:10:244::/64"}, "172.18.0.2"),
	}
	if got, want := masqRanges(nodes, false), []string{"10.244.0.0/24", "10.244.1.0/24"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv4 ranges: got %v, want %v", got, want)
	}
	if got, want := masqRanges(nodes, true), []string{"fd00:10:244:1::/64", "fd00:10:244::/64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IPv6 ranges: got %v, want %v", got, want)
	}
}

func TestMasqRestoreReturnsForPodRangesAndMasqueradesTheRestLast(t *testing.T) {
	got := masqRestore([]string{"10.244.0.0/24", "10.244.1.0/24"})
	want := "*nat\n:PODNET-MASQ - [0:0]\n" +
		"-A PODNET-MASQ -d 10.244.0.0/24 -j RETURN\n" +
		"-A PODNET-MASQ -d 10.244.1.0/24 -j RETURN\n" +
		"-A PODNET-MASQ -j MASQUERADE\nCOMMIT\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
