// Command podnet is the testbed's pod network: the part of kindnetd (kind's default CNI) that a kind
// cluster needs to route pods, for machines where kindnetd's own module cannot be fetched (the module
// proxy does not serve sigs.k8s.io/kind/images/kindnetd). Like kindnetd it runs on every node with the host
// network and, from the Node objects:
//   - writes a CNI config for this node: ptp + host-local over the node's spec.podCIDRs (one range per
//     family) + portmap, as kindnetd's cni config template does;
//   - routes every other node's podCIDRs via that node's InternalIP of the same family; all nodes share one
//     Docker network, so no encapsulation is needed and pod-to-pod traffic keeps its source address. Its
//     routes carry their own protocol number, so that it finds and removes those to nodes that are gone
//     (routes.go);
//   - masquerades pods' traffic to destinations outside every node's podCIDRs, as kindnetd's masquerade
//     agent does (masq.go), so a listener outside the cluster sees the node's address.
//
// It does not enforce NetworkPolicy: kindnetd embeds kube-network-policies for that, which needs nftables'
// queue verdict, and this machine's kernel lacks it (testbed/README.md, "Stand-ins").
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const cniConfigPath = "/etc/cni/net.d/10-podnet.conflist"

func main() {
	nodeName := os.Getenv("NODE_NAME")
	if nodeName == "" {
		fail(fmt.Errorf("NODE_NAME is not set"))
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		fail(err)
	}
	// Talk to the API server directly, as the kubelet does, not through the kubernetes Service: podnet starts
	// before kube-proxy has programmed the Service, and until then a connection to its ClusterIP would leave
	// the node by the default route.
	if server, err := kubeletServer(kubeletKubeconfig); err == nil {
		config.Host = server
	} else {
		fmt.Fprintf(os.Stderr, "podnet: %v; using the kubernetes Service\n", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail(err)
	}
	factory := informers.NewSharedInformerFactory(client, 10*time.Minute)
	nodes := factory.Core().V1().Nodes()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, n any) { notify(n) },
		DeleteFunc: notify,
	}); err != nil {
		fail(err)
	}
	ctx := context.Background()
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced)
	for range changed {
		list, err := nodes.Lister().List(labels.Everything())
		if err != nil {
			fmt.Fprintf(os.Stderr, "podnet: listing nodes: %v\n", err)
			continue
		}
		if err := reconcile(nodeName, list); err != nil {
			fmt.Fprintf(os.Stderr, "podnet: %v\n", err)
		}
	}
}

// kubeletKubeconfig is the node's kubelet kubeconfig (kubeadm writes it; mounted read-only).
const kubeletKubeconfig = "/etc/kubernetes/kubelet.conf"

// kubeletServer reads the API server URL of the kubelet's kubeconfig.
func kubeletServer(path string) (string, error) {
	config, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	for _, cluster := range config.Clusters {
		if cluster.Server != "" {
			return cluster.Server, nil
		}
	}
	return "", fmt.Errorf("%s names no server", path)
}

// reconcile writes this node's CNI config and makes podnet's routes in the kernel those the nodes ask for.
func reconcile(self string, nodes []*corev1.Node) error {
	for _, node := range nodes {
		if node.Name == self {
			if err := writeCNIConfig(node.Spec.PodCIDRs); err != nil {
				return err
			}
		}
	}
	current, err := currentRoutes()
	if err != nil {
		return err
	}
	if err := syncMasquerade(nodes); err != nil {
		return err
	}
	replace, remove := planRoutes(desiredRoutes(self, nodes), current)
	for _, r := range replace {
		// `ip route replace` is idempotent: a node that changes address gets its route moved.
		if err := runIP("route", "replace", r.dst, "via", r.via, "proto", routeProtocol); err != nil {
			return err
		}
	}
	for _, r := range remove {
		if err := runIP("route", "del", r.dst, "proto", routeProtocol); err != nil {
			return err
		}
	}
	return nil
}

// writeCNIConfig writes the config once the node has its podCIDRs; the kubelet reports the node Ready
// only when a CNI config exists.
func writeCNIConfig(podCIDRs []string) error {
	if len(podCIDRs) == 0 {
		return nil
	}
	ranges := [][]map[string]string{}
	routes := []map[string]string{}
	for _, cidr := range podCIDRs {
		ranges = append(ranges, []map[string]string{{"subnet": cidr}})
		if ip, _, err := net.ParseCIDR(cidr); err == nil && ip.To4() == nil {
			routes = append(routes, map[string]string{"dst": "::/0"})
		} else {
			routes = append(routes, map[string]string{"dst": "0.0.0.0/0"})
		}
	}
	config := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "podnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  routes,
					"ranges":  ranges,
				},
				"mtu": 1500,
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(cniConfigPath); err == nil && string(old) == string(data) {
		return nil
	}
	// Write then rename, so the kubelet never reads half a file.
	tmp := filepath.Join(filepath.Dir(cniConfigPath), ".podnet.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, cniConfigPath)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "podnet: %v\n", err)
	os.Exit(1)
}
