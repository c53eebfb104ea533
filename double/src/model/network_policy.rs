//! NetworkPolicy as an enforcing network plugin applies it (being written).

use std::net::IpAddr;

use serde_json::Value;

use crate::store::Store;

/// Whether a TCP connection from `client` (a pod, seen as `source`) to `server` (a pod) at `dest:port`
/// is allowed by the NetworkPolicies of both ends (egress of the client's, ingress of the server's).
pub fn allows(
    _store: &Store,
    _client: &Value,
    _source: IpAddr,
    _server: &Value,
    _dest: IpAddr,
    _port: u16,
) -> bool {
    true
}
