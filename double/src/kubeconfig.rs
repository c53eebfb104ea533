//! A kubeconfig pointing at the test double (plain HTTP on 127.0.0.1, no credentials).

use std::net::SocketAddr;

/// The name of the cluster, user and context in the generated kubeconfig.
pub const CONTEXT_NAME: &str = "netconform-double";

/// Kubeconfig YAML for a double serving on `addr`.
pub fn kubeconfig_yaml(addr: SocketAddr) -> String {
    format!(
        r#"# kubeconfig of the netconform TEST DOUBLE (an offline fake API server), not a real cluster
apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT_NAME}
  cluster:
    server: http://{addr}
users:
- name: {CONTEXT_NAME}
  user: {{}}
contexts:
- name: {CONTEXT_NAME}
  context:
    cluster: {CONTEXT_NAME}
    user: {CONTEXT_NAME}
    namespace: default
current-context: {CONTEXT_NAME}
preferences: {{}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_yaml_with_the_server_url() {
        let yaml = kubeconfig_yaml("127.0.0.1:4321".parse().unwrap());
        let value: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(
            value["clusters"][0]["cluster"]["server"],
            "http://127.0.0.1:4321"
        );
        assert_eq!(value["current-context"], CONTEXT_NAME);
    }
}
