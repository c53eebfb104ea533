package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// routeProtocol marks the routes podnet programs (`ip route ... proto 77`; no entry of iproute2's rt_protos
// uses 77), so that it can list them and remove those to nodes that are gone, after a restart too.
const routeProtocol = "77"

// route is one of podnet's routes: another node's pod range (dst) via that node's InternalIP.
type route struct {
	dst, via string
}

// desiredRoutes are the routes the nodes ask for: every other node's podCIDRs via its InternalIP of the
// same family. A range whose node has no InternalIP of its family gets no route.
func desiredRoutes(self string, nodes []*corev1.Node) []route {
	var routes []route
	for _, node := range nodes {
		if node.Name == self {
			continue
		}
		for _, podCIDR := range node.Spec.PodCIDRs {
			if via := internalIPOfFamily(node, podCIDR); via != "" {
				routes = append(routes, route{dst: podCIDR, via: via})
			}
		}
	}
	return routes
}

// planRoutes compares the desired routes with podnet's routes in the kernel: what to replace (missing, or
// via another address) and what to remove (a range no node asks for any more: its node was deleted, or
// lost its podCIDRs or its InternalIP). Both sorted by destination.
func planRoutes(desired, current []route) (replace, remove []route) {
	have := map[string]string{}
	for _, r := range current {
		have[canonicalPrefix(r.dst)] = canonicalAddr(r.via)
	}
	want := map[string]bool{}
	for _, r := range desired {
		dst := canonicalPrefix(r.dst)
		want[dst] = true
		if via, ok := have[dst]; !ok || via != canonicalAddr(r.via) {
			replace = append(replace, r)
		}
	}
	for _, r := range current {
		if !want[canonicalPrefix(r.dst)] {
			remove = append(remove, r)
		}
	}
	byDst := func(rs []route) {
		sort.Slice(rs, func(i, j int) bool { return rs[i].dst < rs[j].dst })
	}
	byDst(replace)
	byDst(remove)
	return replace, remove
}

// canonicalPrefix writes a prefix as the kernel's listing and a Node's podCIDRs may differ: `ip` prints a
// host route without its length, and an address may be written in more than one way.
func canonicalPrefix(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s
}

func canonicalAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// currentRoutes lists podnet's routes in the kernel, both families.
func currentRoutes() ([]route, error) {
	var routes []route
	for _, family := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", "-j", family, "route", "show", "proto", routeProtocol).Output()
		if err != nil {
			return nil, fmt.Errorf("ip -j %s route show proto %s: %w", family, routeProtocol, err)
		}
		listed, err := parseRoutes(out)
		if err != nil {
			return nil, fmt.Errorf("ip -j %s route show proto %s: %w", family, routeProtocol, err)
		}
		routes = append(routes, listed...)
	}
	return routes, nil
}

// parseRoutes reads `ip -j route show`.
func parseRoutes(out []byte) ([]route, error) {
	var listed []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if err := json.Unmarshal(out, &listed); err != nil {
		return nil, err
	}
	routes := make([]route, 0, len(listed))
	for _, r := range listed {
		routes = append(routes, route{dst: r.Dst, via: r.Gateway})
	}
	return routes, nil
}

// runIP runs the ip command; its output goes into the error.
func runIP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %v: %v: %s", args, err, out)
	}
	return nil
}

func internalIPOfFamily(node *corev1.Node, cidr string) string {
	_, network, err := net.ParseCIDR(cidr)
	if err != nil {
		return ""
	}
	wantV4 := network.IP.To4() != nil
	for _, address := range node.Status.Addresses {
		ip := net.ParseIP(address.Address)
		if address.Type == corev1.NodeInternalIP && ip != nil && (ip.To4() != nil) == wantV4 {
			return address.Address
		}
	}
	return ""
}
