//! Pure models of the dual-stack kind cluster "netconform": what the kubelet, the apiserver's
//! allocators and the controllers compute, with no store and no I/O. Each module follows one
//! upstream component and names the file it follows; the cluster layer (`crate::cluster`) wires
//! them to the store.

pub mod deployments;
pub mod dns;
pub mod endpoints;
pub mod endpointslices;
pub mod family;
pub mod gofmt;
pub mod hosts;
pub mod labels;
pub mod network_policy;
pub mod nodeport;
pub mod nslookup;
pub mod pod_defaults;
pub mod resolv;
pub mod servicecidr;
pub mod services;
pub mod time;
pub mod topology;
