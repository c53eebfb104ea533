//! Connectivity: pod to pod across nodes per IP family without NAT, pod to Service (ClusterIP, NodePort),
//! Endpoints/EndpointSlices following the ready pods, service environment variables, traffic policy,
//! and NetworkPolicy.
//!
//! One module per part: `pods` (pod to pod), `services` (ClusterIP, NodePort, internalTrafficPolicy),
//! `endpoints` (expose with targetPort, endpoints following readiness, service env vars), `network_policy`
//! (the docs' `test-network-policy`), `traffic` (localhost inside a pod, load balancing, UDP Services and the
//! ClusterIP's lifetime, internalTrafficPolicy Cluster, from one setup), `node_agents` (node to pod: the
//! kubelet's probes and a hostNetwork pod, from the same setup), `outside` (traffic across the cluster's edge:
//! NodePort, ClusterIP, externalTrafficPolicy, hostPort and LoadBalancer from a client outside the cluster,
//! and pods' egress).

pub mod endpoints;
pub mod expose;
pub mod network_policy;
pub mod node_agents;
pub mod outside;
pub mod pods;
pub mod service_env;
pub mod services;
pub mod traffic;
