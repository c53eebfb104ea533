package main

import (
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod traffic leaving the cluster leaves with the node's address, as kindnetd's masquerade agent does it
// (sigs.k8s.io/kind images/kindnetd/cmd/kindnetd/masq.go: nat POSTROUTING sends every packet not bound for a
// local address to its chain, which returns for the pod ranges and masquerades the rest). Pod-to-pod traffic,
// hostNetwork pods' traffic to pods, and Services (DNATed to a pod before POSTROUTING) keep their source.
const masqChain = "PODNET-MASQ"

// masqRanges is every node's podCIDRs of one family (ipv6 or not), sorted: the destinations not masqueraded.
func masqRanges(nodes []*corev1.Node, ipv6 bool) []string {
	var ranges []string
	for _, node := range nodes {
		for _, cidr := range node.Spec.PodCIDRs {
			ip, _, err := net.ParseCIDR(cidr)
			if err != nil || (ip.To4() == nil) != ipv6 {
				continue
			}
			ranges = append(ranges, canonicalPrefix(cidr))
		}
	}
	sort.Strings(ranges)
	return ranges
}

// masqRestore is the iptables-restore input that replaces the chain's rules at once (declaring the chain
// flushes it within the same commit, so no packet meets a half-written chain).
func masqRestore(ranges []string) string {
	var b strings.Builder
	b.WriteString("*nat\n:" + masqChain + " - [0:0]\n")
	for _, r := range ranges {
		fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", masqChain, r)
	}
	fmt.Fprintf(&b, "-A %s -j MASQUERADE\nCOMMIT\n", masqChain)
	return b.String()
}

// jumpRule is the nat POSTROUTING rule that sends non-local destinations to the chain.
var jumpRule = []string{"POSTROUTING", "-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", masqChain}

// masqApplied holds, per family, the ranges last written, so that an unchanged set is not rewritten.
var masqApplied = map[bool]string{}

// syncMasquerade writes each family's chain when its ranges changed, and the jump to it when missing.
func syncMasquerade(nodes []*corev1.Node) error {
	for _, ipv6 := range []bool{false, true} {
		ranges := masqRanges(nodes, ipv6)
		if len(ranges) == 0 {
			continue
		}
		tool := "iptables"
		if ipv6 {
			tool = "ip6tables"
		}
		input := masqRestore(ranges)
		if masqApplied[ipv6] != input {
			cmd := exec.Command(tool+"-restore", "--noflush")
			cmd.Stdin = strings.NewReader(input)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s-restore: %v: %s", tool, err, out)
			}
			masqApplied[ipv6] = input
		}
		check := append([]string{"-t", "nat", "-C"}, jumpRule...)
		if exec.Command(tool, check...).Run() != nil {
			add := append([]string{"-t", "nat", "-A"}, jumpRule...)
			if out, err := exec.Command(tool, add...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s -t nat -A %s: %v: %s", tool, strings.Join(jumpRule, " "), err, out)
			}
		}
	}
	return nil
}
