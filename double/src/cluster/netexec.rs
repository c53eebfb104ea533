//! agnhost `netexec` (test/images/agnhost/netexec/netexec.go) as a server: which ports a container's argv
//! listens on (`--http-port`, 8080; `--udp-port`, 8081, -1: off), its HTTP routes (`/hostname` is
//! `os.Hostname()`, the pod's hostname without a newline; `/clientip` is `r.RemoteAddr`, `IP:PORT` or
//! `[IP]:PORT`; `/echo?msg=M` is `M`; `/dial?request=R&protocol=udp&host=H&port=P&tries=N` sends `R` over
//! UDP and answers `{"responses":[..]}` / `{"errors":[..]}` as JSON, other protocols of `/dial` are not
//! modelled; every other path is the root handler, `NOW: <time>`) and its UDP commands (`hostname`,
//! `echo TEXT`, `clientip`). The network that carries requests to it is double/src/cluster/network.rs.

use std::net::IpAddr;

use rand::Rng;
use serde_json::Value;

use super::Cluster;
use super::commands::{self, HttpReply};
use crate::model::time;

/// How `/dial` sends one UDP request: `(dest, port, request)` to netexec's answer or its error text.
pub(crate) type Dial<'a> = dyn Fn(IpAddr, u16, &str) -> Result<String, String> + 'a;

/// A transport protocol of a Service port (`spec.ports[].protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// The port of an agnhost `netexec` argv's `flag` (`--F=N` or `--F N`), else `default`; a negative value
/// (`--udp-port=-1`) turns that server off.
fn netexec_flag_port(argv: &[String], flag: &str, default: u16) -> Option<u16> {
    let at = argv.iter().position(|a| a == "netexec")?;
    let flags = &argv[at + 1..];
    let with_value = format!("{flag}=");
    for (i, given) in flags.iter().enumerate() {
        if let Some(v) = given.strip_prefix(&with_value) {
            return v.parse().ok();
        }
        if given == flag {
            return flags.get(i + 1)?.parse().ok();
        }
    }
    Some(default)
}

/// The HTTP port of an agnhost `netexec` argv (`--http-port=N` or `--http-port N`, default 8080).
fn netexec_port(argv: &[String]) -> Option<u16> {
    netexec_flag_port(argv, "--http-port", 8080)
}

/// The UDP port of an agnhost `netexec` argv (`--udp-port`, default 8081, -1: none).
fn netexec_udp_port(argv: &[String]) -> Option<u16> {
    netexec_flag_port(argv, "--udp-port", 8081)
}

/// Whether a started container of `pod` (only `only` when given) serves netexec on `port` of `protocol`.
pub(crate) fn serves_netexec_on(
    cluster: &Cluster,
    pod: &Value,
    only: Option<&str>,
    port: u16,
    protocol: Protocol,
) -> bool {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| only.is_none_or(|name| c["name"].as_str() == Some(name)))
        .any(|c| {
            let started = cluster
                .started(uid, c["name"].as_str().unwrap_or_default())
                .is_some();
            let argv = commands::entrypoint(c);
            let listens = match protocol {
                Protocol::Tcp => netexec_port(&argv),
                Protocol::Udp => netexec_udp_port(&argv),
            };
            started && listens == Some(port)
        })
}

/// Whether a started container of `pod` serves netexec's HTTP on `port`.
pub(crate) fn serves_netexec(cluster: &Cluster, pod: &Value, port: u16) -> bool {
    serves_netexec_on(cluster, pod, None, port, Protocol::Tcp)
}

fn ok(body: String) -> HttpReply {
    HttpReply::Response {
        status: 200,
        reason: "OK".into(),
        body,
    }
}

/// `source` as Go's `RemoteAddr` shows it, with an ephemeral port of the client (Linux
/// ip_local_port_range 32768-60999).
pub(crate) fn remote_addr(source: IpAddr) -> String {
    let port: u16 = rand::rng().random_range(32768..=60999);
    match source {
        IpAddr::V4(_) => format!("{source}:{port}"),
        IpAddr::V6(_) => format!("[{source}]:{port}"),
    }
}

/// The value of `key` in a query string (no percent-decoding: the model's callers send plain values).
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// netexec's `/dial` (netexec.go `dialHandler`): `tries` UDP exchanges of `request` with `host:port`
/// (through `dial`, the network as the pod sees it), answered as JSON `{"responses":[..]}` and/or `{"errors":[..]}`.
fn netexec_dial(query: &str, dial: &Dial) -> HttpReply {
    let bad = |text: String| HttpReply::Response {
        status: 400,
        reason: "Bad Request".into(),
        body: format!("{text}\n"),
    };
    let request = query_value(query, "request").unwrap_or_default();
    if request.is_empty() {
        return bad("request parameter not specified. <nil>".into());
    }
    let Ok(tries) = query_value(query, "tries").unwrap_or("1").parse::<usize>() else {
        return bad("tries parameter is invalid.".into());
    };
    let protocol = query_value(query, "protocol").unwrap_or_default();
    if !protocol.eq_ignore_ascii_case("udp") {
        return bad(format!("unsupported protocol. {protocol}"));
    }
    let host = query_value(query, "host").unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (Ok(dest), Ok(port)) = (
        host.parse::<IpAddr>(),
        query_value(query, "port")
            .unwrap_or_default()
            .parse::<u16>(),
    ) else {
        return bad("host and/or port param are invalid.".into());
    };
    let (mut responses, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..tries {
        match dial(dest, port, request) {
            Ok(answer) => responses.push(answer),
            Err(e) => errors.push(e),
        }
    }
    let mut output = serde_json::Map::new();
    if !responses.is_empty() {
        output.insert("responses".into(), responses.into());
    }
    if !errors.is_empty() {
        output.insert("errors".into(), errors.into());
    }
    ok(Value::Object(output).to_string())
}

/// netexec's answer to `path` from `source`; `/dial` sends its UDP requests through `dial`.
pub(crate) fn answer(
    cluster: &Cluster,
    pod: &Value,
    source: IpAddr,
    path: &str,
    dial: &Dial,
) -> HttpReply {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    match route {
        "/hostname" | "/hostName" => ok(cluster.hostname(pod)),
        "/clientip" => ok(remote_addr(source)),
        "/dial" => netexec_dial(query, dial),
        "/echo" => ok(query
            .split('&')
            .find_map(|kv| kv.strip_prefix("msg="))
            .unwrap_or("")
            .to_string()),
        "/healthz" => ok(String::new()),
        "/readyz" => ok("ok".into()),
        _ => ok(format!("NOW: {}", time::now())),
    }
}

/// netexec's UDP answer to `request` on `server` from `source` (netexec.go `startUDPServer`); `None`
/// for a request it does not answer.
pub(crate) fn udp_answer(
    cluster: &Cluster,
    server: &Value,
    source: IpAddr,
    request: &str,
) -> Option<String> {
    match request {
        "hostname" => Some(cluster.hostname(server)),
        "clientip" => Some(remote_addr(source)),
        r => r.strip_prefix("echo ").map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn netexec_ports() {
        assert_eq!(
            netexec_port(&argv(&["/agnhost", "netexec", "--http-port=80"])),
            Some(80)
        );
        assert_eq!(
            netexec_port(&argv(&["/agnhost", "netexec", "--http-port", "9376"])),
            Some(9376)
        );
        assert_eq!(netexec_port(&argv(&["/agnhost", "netexec"])), Some(8080));
        assert_eq!(netexec_port(&argv(&["/agnhost", "pause"])), None);
    }
}
