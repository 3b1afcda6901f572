//! rustbond-peer: drives the rustbond 0.1.3 library as a MetalBond server or
//! client so that tsbond's interop tests can talk to a real Rust peer.
//!
//! Protocol with the test harness: one JSON object per line on stdout (flushed
//! after every line); human-readable logs (tracing, filtered by RUST_LOG,
//! default "warn") on stderr only.
//!
//! ```text
//! rustbond-peer server --listen ADDR [--keepalive N]
//! rustbond-peer client --server ADDR [--server ADDR ...] [--subscribe VNI ...]
//!                      [--announce ROUTE ...] [--wait all|any|none]
//!                      [--connect-timeout SECS]
//! ```
//!
//! Server events:
//!   {"event":"listening","addr":"[::1]:4711"}
//!   {"event":"stats","peers":N,"routes":N}      (polled every 200 ms, printed on change)
//! Server stdin commands: `stats`, `quit`. Stdin EOF, SIGINT or SIGTERM stop it.
//! `--listen` with port 0 picks a free port first (bind+release), because
//! rustbond does not expose the bound address; the chosen one is printed.
//!
//! Client events:
//!   {"event":"established"}                       (after --wait is satisfied)
//!   {"event":"serverState","server":0,"addr":"..","state":"ESTABLISHED"} (on change)
//!   {"event":"add"|"remove","vni":..,"destination":..,"nextHop":..,"targetVni":..,
//!    "type":"STANDARD"|"NAT"|"LOADBALANCER_TARGET","natFrom":..,"natTo":..}
//!   {"event":"ok","cmd":VERB,"arg":ARG} / {"event":"error","cmd":VERB,"arg":ARG,"error":..}
//!   {"event":"state",...}                         (answer to `state`)
//! Client stdin commands, one per line: `announce ROUTE`, `withdraw ROUTE`,
//! `subscribe VNI`, `unsubscribe VNI`, `state`, `quit`. The startup
//! --subscribe/--announce flags go through the same code and answer the same way.
//! Stdin EOF, SIGINT or SIGTERM behave like `quit`.
//!
//! Subscriptions are deduplicated here: a VNI that this driver already
//! subscribed successfully is refused with an error and never sent twice
//! (rustbond itself would resend it, and a duplicate SUBSCRIBE deadlocks a Go
//! server).
//!
//! ROUTE syntax (our own parser):
//!   rustbond form: VNI#PREFIX@NEXTHOP[%TARGETVNI][#TYPE[#FROM#TO]]
//!   Go form:       VNI#PREFIX#NEXTHOP[%TARGETVNI][#TYPE[#FROM#TO]]
//! TYPE is std|standard, nat, lb|loadbalancer|loadbalancer_target (any case);
//! nat needs FROM#TO (0..=65535), the other types take no ports.
//! `%TARGETVNI` is our extension: a decimal u32 glued to the next hop, e.g.
//! `100#10.0.0.0/8@2001:db8::3%500` (0 means "no target VNI"). NEXTHOP must be
//! IPv6 (rustbond only has IPv6 next hops). Multiple values may also be given
//! comma-separated in one --subscribe/--announce/--server flag.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc as std_mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use ipnet::IpNet;
use rustbond::{
    ConnectionState, Destination, MetalBondClient, MetalBondServer, NextHop, NextHopType, Route,
    RouteHandler, ServerConfig, Vni,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// stdout: a single writer thread so that route handlers never block on a pipe
// and lines from different tasks never interleave.
// ---------------------------------------------------------------------------

static OUT: OnceLock<std_mpsc::Sender<Option<String>>> = OnceLock::new();

fn start_writer() -> std::thread::JoinHandle<()> {
    let (tx, rx) = std_mpsc::channel::<Option<String>>();
    OUT.set(tx).expect("writer started twice");
    std::thread::spawn(move || {
        let stdout = std::io::stdout();
        while let Ok(Some(line)) = rx.recv() {
            let mut lock = stdout.lock();
            if writeln!(lock, "{line}").is_err() || lock.flush().is_err() {
                // Reader went away; nothing useful left to do with output.
                break;
            }
        }
    })
}

fn emit(v: Value) {
    if let Some(tx) = OUT.get() {
        let _ = tx.send(Some(v.to_string()));
    }
}

/// Flushes all queued output and exits the process. Exiting explicitly avoids
/// waiting for the blocking stdin thread.
fn finish(writer: std::thread::JoinHandle<()>, code: u8) -> ExitCode {
    if let Some(tx) = OUT.get() {
        let _ = tx.send(None);
    }
    let _ = writer.join();
    let _ = std::io::stdout().flush();
    std::process::exit(code as i32)
}

// ---------------------------------------------------------------------------
// Argument parsing (hand-written, flags may repeat, values may be comma lists)
// ---------------------------------------------------------------------------

const USAGE: &str = "usage:
  rustbond-peer server --listen ADDR [--keepalive N]
  rustbond-peer client --server ADDR [--server ADDR ...] [--subscribe VNI ...]
                       [--announce ROUTE ...] [--wait all|any|none] [--connect-timeout SECS]
ROUTE: VNI#PREFIX@NEXTHOP[%TARGETVNI][#TYPE[#FROM#TO]]  (or Go form VNI#PREFIX#NEXTHOP...)";

#[derive(Debug, Default)]
struct Args {
    mode: String,
    listen: Option<String>,
    keepalive: Option<u32>,
    servers: Vec<String>,
    subscribe: Vec<String>,
    announce: Vec<String>,
    wait: String,
    connect_timeout: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("missing mode (server|client)")?;
    if mode == "-h" || mode == "--help" {
        return Err(String::new());
    }
    if mode != "server" && mode != "client" {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut a = Args {
        mode,
        wait: "all".into(),
        connect_timeout: 30,
        ..Default::default()
    };
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        match (a.mode.as_str(), name.as_str()) {
            ("server", "--listen" | "-l") => a.listen = Some(value()?),
            ("server", "--keepalive") => {
                let v = value()?;
                let k: u32 = v.parse().map_err(|_| format!("bad --keepalive {v:?}"))?;
                if k < 1 {
                    return Err("--keepalive must be >= 1".into());
                }
                a.keepalive = Some(k);
            }
            ("client", "--server" | "-s") => a.servers.extend(list(value()?)),
            ("client", "--subscribe") => a.subscribe.extend(list(value()?)),
            ("client", "--announce" | "-a") => a.announce.extend(list(value()?)),
            ("client", "--wait") => {
                let v = value()?;
                if !matches!(v.as_str(), "all" | "any" | "none") {
                    return Err(format!("--wait must be all, any or none, not {v:?}"));
                }
                a.wait = v;
            }
            ("client", "--connect-timeout") => {
                let v = value()?;
                a.connect_timeout = v
                    .parse()
                    .map_err(|_| format!("bad --connect-timeout {v:?}"))?;
            }
            _ => return Err(format!("unknown flag {name:?} for {}", a.mode)),
        }
    }
    if a.mode == "server" && a.listen.is_none() {
        return Err("server needs --listen ADDR".into());
    }
    if a.mode == "client" && a.servers.is_empty() {
        return Err("client needs at least one --server ADDR".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// Route strings
// ---------------------------------------------------------------------------

fn parse_vni(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| format!("invalid VNI {s:?} (expected an unsigned 32-bit number)"))
}

/// Parses a route string, see the module comment for the syntax.
fn parse_route(s: &str) -> Result<(Vni, Destination, NextHop), String> {
    const FORM: &str = "expected VNI#PREFIX@NEXTHOP[%TARGETVNI][#TYPE[#FROM#TO]]";
    let parts: Vec<&str> = s.trim().split('#').collect();
    if parts.len() < 2 {
        return Err(format!("malformed route {s:?}: {FORM}"));
    }
    let vni = parse_vni(parts[0])?;
    // rustbond form puts "@NEXTHOP" into the second field; Go form uses a
    // separate third field.
    let (prefix_str, hop_str, rest) = match parts[1].split_once('@') {
        Some((p, h)) => (p, h, &parts[2..]),
        None if parts.len() >= 3 => (parts[1], parts[2], &parts[3..]),
        None => return Err(format!("malformed route {s:?}: missing next hop, {FORM}")),
    };
    let prefix: IpNet = prefix_str
        .parse()
        .map_err(|_| format!("invalid prefix {prefix_str:?}"))?;
    let (addr_str, target_vni) = match hop_str.split_once('%') {
        Some((a, t)) => (a, parse_vni(t).map_err(|e| format!("invalid target VNI: {e}"))?),
        None => (hop_str, 0),
    };
    let addr: Ipv6Addr = addr_str
        .parse()
        .map_err(|_| format!("invalid next hop {addr_str:?} (must be an IPv6 address)"))?;

    let type_word = rest.first().map(|t| t.to_ascii_lowercase());
    let hop_type = match type_word.as_deref() {
        None | Some("std") | Some("standard") => NextHopType::Standard,
        Some("nat") => NextHopType::Nat,
        Some("lb") | Some("loadbalancer") | Some("loadbalancer_target") => {
            NextHopType::LoadBalancerTarget
        }
        Some(other) => {
            return Err(format!(
                "invalid type {other:?} (expected std, nat or lb)"
            ))
        }
    };
    let (from, to) = if hop_type == NextHopType::Nat {
        if rest.len() != 3 {
            return Err(format!("NAT route {s:?} needs #FROM#TO ports"));
        }
        let p = |v: &str| {
            v.parse::<u16>()
                .map_err(|_| format!("invalid NAT port {v:?} (0..65535)"))
        };
        (p(rest[1])?, p(rest[2])?)
    } else {
        if rest.len() > 1 {
            return Err(format!("route {s:?}: ports are only allowed for nat"));
        }
        (0, 0)
    };
    let hop = NextHop {
        target_address: addr,
        target_vni: if target_vni == 0 { None } else { Some(target_vni) },
        hop_type,
        nat_port_range_from: from,
        nat_port_range_to: to,
    };
    Ok((Vni(vni), Destination::new(prefix), hop))
}

/// Route fields as a JSON object; `event`, when given, becomes the first key
/// (serde_json is built with preserve_order, so keys keep insertion order).
fn route_fields(event: Option<&str>, vni: Vni, route: &Route) -> Value {
    let hop = &route.next_hop;
    let mut obj = serde_json::Map::new();
    if let Some(e) = event {
        obj.insert("event".into(), json!(e));
    }
    let fields = json!({
        "vni": vni.0,
        "destination": route.destination.prefix.to_string(),
        "nextHop": hop.target_address.to_string(),
        "targetVni": hop.target_vni.unwrap_or(0),
        "type": hop.hop_type.to_string(),
        "natFrom": hop.nat_port_range_from,
        "natTo": hop.nat_port_range_to,
    });
    if let Value::Object(f) = fields {
        obj.extend(f);
    }
    Value::Object(obj)
}

fn route_json(vni: Vni, route: &Route) -> Value {
    route_fields(None, vni, route)
}

fn route_event(event: &str, vni: Vni, route: &Route) -> Value {
    route_fields(Some(event), vni, route)
}

/// `{"event": EVENT, ...rest}` with `event` as the first key.
fn with_event(event: &str, rest: Value) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("event".into(), json!(event));
    if let Value::Object(r) = rest {
        obj.extend(r);
    }
    Value::Object(obj)
}

fn state_name(s: ConnectionState) -> String {
    s.to_string()
}

// ---------------------------------------------------------------------------
// Shared input: stdin lines + signals feed one channel.
// ---------------------------------------------------------------------------

enum Input {
    Line(String),
    Eof,
    Signal(&'static str),
}

fn spawn_stdin_reader(tx: mpsc::UnboundedSender<Input>) {
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut buf = String::new();
        loop {
            buf.clear();
            match stdin.read_line(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::Eof);
                    return;
                }
                Ok(_) => {
                    if tx.send(Input::Line(buf.trim().to_string())).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

fn spawn_signal_watch(tx: mpsc::UnboundedSender<Input>) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Input::Signal(name));
    });
}

// ---------------------------------------------------------------------------
// Server mode
// ---------------------------------------------------------------------------

async fn run_server(args: Args) -> Result<(), String> {
    let mut listen = args.listen.clone().unwrap();
    if let Ok(sa) = listen.parse::<SocketAddr>() {
        if sa.port() == 0 {
            // rustbond does not report its bound port: reserve one ourselves.
            let probe = std::net::TcpListener::bind(sa)
                .map_err(|e| format!("cannot bind {listen}: {e}"))?;
            let picked = probe.local_addr().map_err(|e| e.to_string())?;
            drop(probe);
            listen = picked.to_string();
        }
    }
    let mut config = ServerConfig::default();
    if let Some(k) = args.keepalive {
        config.keepalive_interval = k;
    }
    let server = MetalBondServer::start(&listen, config)
        .await
        .map_err(|e| format!("cannot start server on {listen}: {e}"))?;
    emit(json!({"event": "listening", "addr": listen}));

    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_stdin_reader(tx.clone());
    spawn_signal_watch(tx);

    let mut last: Option<(usize, usize)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = (server.peer_count().await, server.route_count().await);
                if last != Some(now) {
                    last = Some(now);
                    emit(json!({"event": "stats", "peers": now.0, "routes": now.1}));
                }
            }
            input = rx.recv() => match input {
                Some(Input::Line(line)) => match line.as_str() {
                    "" => {}
                    "stats" => {
                        let now = (server.peer_count().await, server.route_count().await);
                        emit(json!({"event": "stats", "peers": now.0, "routes": now.1}));
                        emit(json!({"event": "ok", "cmd": "stats", "arg": ""}));
                    }
                    "quit" => {
                        emit(json!({"event": "ok", "cmd": "quit", "arg": ""}));
                        break;
                    }
                    other => {
                        let verb = other.split_whitespace().next().unwrap_or("");
                        emit(json!({"event": "error", "cmd": verb, "arg": other,
                                    "error": "unknown command (server knows: stats, quit)"}));
                    }
                },
                Some(Input::Signal(name)) => {
                    tracing::info!(signal = name, "stopping server");
                    break;
                }
                Some(Input::Eof) | None => break,
            }
        }
    }
    let _ = server.shutdown().await;
    // Give the peer tasks a moment to close their sockets.
    tokio::time::sleep(Duration::from_millis(50)).await;
    emit(json!({"event": "stopped"}));
    Ok(())
}

// ---------------------------------------------------------------------------
// Client mode
// ---------------------------------------------------------------------------

struct JsonHandler;

impl RouteHandler for JsonHandler {
    fn add_route(&self, vni: Vni, route: Route) {
        emit(route_event("add", vni, &route));
    }
    fn remove_route(&self, vni: Vni, route: Route) {
        emit(route_event("remove", vni, &route));
    }
}

struct ClientDriver {
    client: MetalBondClient<JsonHandler>,
    /// VNIs that were subscribed successfully through this driver.
    subscribed: BTreeSet<u32>,
}

impl ClientDriver {
    /// Runs one command; returns false when the driver should stop.
    async fn command(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return true;
        }
        let (verb, arg) = match line.split_once(char::is_whitespace) {
            Some((v, a)) => (v, a.trim()),
            None => (line, ""),
        };
        let result: Result<(), String> = match verb {
            "announce" => match parse_route(arg) {
                Ok((vni, dest, hop)) => self
                    .client
                    .announce(vni, dest, hop)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            },
            "withdraw" => match parse_route(arg) {
                Ok((vni, dest, hop)) => self
                    .client
                    .withdraw(vni, dest, hop)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            },
            "subscribe" => match parse_vni(arg) {
                Ok(v) if self.subscribed.contains(&v) => {
                    Err(format!("already subscribed to VNI {v}"))
                }
                Ok(v) => match self.client.subscribe(Vni(v)).await {
                    Ok(()) => {
                        self.subscribed.insert(v);
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e),
            },
            "unsubscribe" => match parse_vni(arg) {
                Ok(v) if !self.subscribed.contains(&v) => {
                    Err(format!("not subscribed to VNI {v}"))
                }
                Ok(v) => {
                    let r = self.client.unsubscribe(Vni(v)).await;
                    self.subscribed.remove(&v);
                    r.map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            },
            "state" => {
                self.emit_state().await;
                Ok(())
            }
            "quit" => {
                emit(json!({"event": "ok", "cmd": "quit", "arg": ""}));
                return false;
            }
            _ => Err("unknown command (announce, withdraw, subscribe, unsubscribe, state, quit)"
                .to_string()),
        };
        match result {
            Ok(()) => emit(json!({"event": "ok", "cmd": verb, "arg": arg})),
            Err(e) => emit(json!({"event": "error", "cmd": verb, "arg": arg, "error": e})),
        }
        true
    }

    fn server_list(&self) -> Vec<Value> {
        let states = self.client.server_states();
        let mut ids: Vec<_> = states.keys().copied().collect();
        ids.sort_by_key(|id| id.0);
        ids.into_iter()
            .map(|id| {
                json!({
                    "server": id.0,
                    "addr": self.client.server_addr(id).unwrap_or(""),
                    "state": state_name(states[&id]),
                })
            })
            .collect()
    }

    async fn emit_state(&self) {
        let mut received = Vec::new();
        for v in &self.subscribed {
            let mut routes: Vec<Value> = self
                .client
                .get_received_routes(Vni(*v))
                .iter()
                .map(|r| route_json(Vni(*v), r))
                .collect();
            routes.sort_by_key(|r| r.to_string());
            received.extend(routes);
        }
        let mut announced: Vec<Value> = self
            .client
            .get_announced_routes()
            .await
            .iter()
            .map(|(vni, r)| route_json(*vni, r))
            .collect();
        announced.sort_by_key(|r| r.to_string());
        emit(json!({
            "event": "state",
            "client": format!("{:?}", self.client.state()),
            "connected": self.client.connected_count(),
            "servers": self.server_list(),
            "subscriptions": self.subscribed.iter().collect::<Vec<_>>(),
            "routeCount": self.client.route_count(),
            "received": received,
            "announced": announced,
        }));
    }
}

async fn run_client(args: Args) -> Result<u8, String> {
    let addrs: Vec<&str> = args.servers.iter().map(|s| s.as_str()).collect();
    let client = MetalBondClient::connect(&addrs, JsonHandler);
    let mut driver = ClientDriver {
        client,
        subscribed: BTreeSet::new(),
    };

    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_signal_watch(tx.clone());
    spawn_stdin_reader(tx);

    // Report per-server state changes (reconnects etc.); polled, so very short
    // intermediate states (HELLO_SENT, ...) are usually not seen.
    let mut last_states: Vec<String> = Vec::new();
    let mut report_states = |driver: &ClientDriver| {
        let list = driver.server_list();
        let now: Vec<String> = list.iter().map(|v| v["state"].to_string()).collect();
        if now != last_states {
            for (i, v) in list.iter().enumerate() {
                if last_states.get(i) != now.get(i) {
                    emit(with_event("serverState", v.clone()));
                }
            }
            last_states = now;
        }
    };
    report_states(&driver);

    // Wait for the connection(s). Stdin lines that arrive meanwhile are kept
    // and run afterwards; EOF or a signal stops the driver right away.
    let timeout = Duration::from_secs(args.connect_timeout);
    let mut pending: Vec<String> = Vec::new();
    let mut stop = false;
    let waited = if args.wait == "none" {
        None
    } else {
        let wait = async {
            if args.wait == "all" {
                driver.client.wait_all_established_timeout(timeout).await
            } else {
                driver.client.wait_any_established_timeout(timeout).await
            }
        };
        tokio::pin!(wait);
        loop {
            tokio::select! {
                r = &mut wait => break Some(r),
                input = rx.recv() => match input {
                    Some(Input::Line(line)) => pending.push(line),
                    Some(Input::Signal(_)) | Some(Input::Eof) | None => {
                        stop = true;
                        break None;
                    }
                },
            }
        }
    };
    report_states(&driver);
    match waited {
        Some(Ok(())) => emit(json!({"event": "established"})),
        Some(Err(e)) => {
            emit(json!({"event": "error", "cmd": "connect", "arg": args.servers.join(","),
                        "error": e.to_string()}));
            return Ok(2);
        }
        None => {}
    }

    // Initial subscriptions first, then announcements, then anything typed
    // while waiting; all through the same path as stdin commands.
    let mut running = !stop;
    let startup = args
        .subscribe
        .iter()
        .map(|v| format!("subscribe {v}"))
        .chain(args.announce.iter().map(|r| format!("announce {r}")))
        .chain(pending);
    for line in startup {
        if !running {
            break;
        }
        running = driver.command(&line).await;
    }

    let mut poll = tokio::time::interval(Duration::from_millis(100));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while running {
        tokio::select! {
            _ = poll.tick() => report_states(&driver),
            input = rx.recv() => match input {
                Some(Input::Line(line)) => running = driver.command(&line).await,
                Some(Input::Signal(name)) => {
                    tracing::info!(signal = name, "stopping client");
                    running = false;
                }
                Some(Input::Eof) | None => running = false,
            }
        }
    }
    let _ = driver.client.shutdown().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    emit(json!({"event": "stopped"}));
    Ok(0)
}

fn main() -> ExitCode {
    let writer = start_writer();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();

    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return finish(writer, 0);
            }
            eprintln!("rustbond-peer: {e}\n{USAGE}");
            return finish(writer, 2);
        }
    };

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rustbond-peer: cannot start runtime: {e}");
            return finish(writer, 1);
        }
    };
    let code = rt.block_on(async move {
        let res = if args.mode == "server" {
            run_server(args).await.map(|_| 0)
        } else {
            run_client(args).await
        };
        match res {
            Ok(code) => code,
            Err(e) => {
                emit(json!({"event": "error", "cmd": "start", "arg": "", "error": e}));
                eprintln!("rustbond-peer: {e}");
                1
            }
        }
    });
    finish(writer, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rustbond_and_go_forms() {
        let (v, d, h) = parse_route("100#10.0.1.0/24@2001:db8::1").unwrap();
        assert_eq!(v.0, 100);
        assert_eq!(d.prefix.to_string(), "10.0.1.0/24");
        assert_eq!(h.hop_type, NextHopType::Standard);
        let (_, _, h) = parse_route("200#10.0.2.0/24@2001:db8::2#NAT#1024#2048").unwrap();
        assert_eq!((h.hop_type, h.nat_port_range_from, h.nat_port_range_to), (NextHopType::Nat, 1024, 2048));
        let (_, d, h) = parse_route("23#10.0.23.0/24#2001:db8::1#lb").unwrap();
        assert_eq!(d.prefix.to_string(), "10.0.23.0/24");
        assert_eq!(h.hop_type, NextHopType::LoadBalancerTarget);
        let (_, _, h) = parse_route("100#10.0.0.0/8@2001:db8::3%500").unwrap();
        assert_eq!(h.target_vni, Some(500));
        let (_, d, _) = parse_route("100#10.0.1.7/24@2001:db8::1").unwrap();
        assert_eq!(d.prefix.to_string(), "10.0.1.7/24");
    }

    #[test]
    fn rejects_bad_routes() {
        for bad in [
            "100",
            "x#10.0.1.0/24@2001:db8::1",
            "100#10.0.1.0/33@2001:db8::1",
            "100#10.0.1.0/24@192.168.1.1",
            "100#10.0.1.0/24@2001:db8::1#nat",
            "100#10.0.1.0/24@2001:db8::1#nat#1#70000",
            "100#10.0.1.0/24@2001:db8::1#weird",
            "100#10.0.1.0/24@2001:db8::1#std#1#2",
        ] {
            assert!(parse_route(bad).is_err(), "{bad} should fail");
        }
    }
}
