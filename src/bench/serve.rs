//! `glassbox bench serve`: what watching for drift costs a served model. The server runs in
//! this process on loopback, once with the project's drift watch on and once with it off,
//! taking turns (`--rounds`); clients on keep-alive connections send the test split's samples
//! one per request for `--target-s` seconds each. Reports requests/s and latency per side.

use super::{median, BenchArgs};
use crate::data::Dataset;
use crate::deploy::serve::{start, ServeConfig};
use crate::model::Model;
use crate::presets;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent clients.
const CLIENTS: usize = 4;

pub fn run(args: &BenchArgs) -> Result<()> {
    for name in ["mlp-iris", "cnn-mnist"] {
        let project = presets::load(name).with_context(|| format!("loading the {name} preset"))?;
        let data = Arc::new(Dataset::load(&project.data, None)?);
        // Untrained weights: the cost of serving does not depend on what they learnt.
        let weights = Model::build(&project.graph, project.training.seed)?.weights()?;
        let bodies = request_bodies(&data);
        let (mut on, mut off) = (Vec::new(), Vec::new());
        let rounds = args.rounds.max(1);
        for _ in 0..rounds {
            for (drift, out) in [(true, &mut on), (false, &mut off)] {
                let mut p = project.clone();
                p.serving.drift = drift;
                let server = start(
                    p,
                    vec![weights.clone()],
                    data.clone(),
                    ServeConfig::local(0),
                )?;
                let load = load_test(server.addr(), &bodies, args.target_s)?;
                server.stop();
                out.push(load);
            }
        }
        let side = |v: &[Load]| {
            let mut rps: Vec<f64> = v.iter().map(|l| l.per_s).collect();
            let mut p50: Vec<f64> = v.iter().map(|l| l.p50_ms).collect();
            let mut p99: Vec<f64> = v.iter().map(|l| l.p99_ms).collect();
            (median(&mut rps), median(&mut p50), median(&mut p99))
        };
        let (a, b) = (side(&off), side(&on));
        println!(
            "{name:10} drift off: {:8.0} requests/s  p50 {:.3} ms  p99 {:.3} ms",
            a.0, a.1, a.2
        );
        println!(
            "{name:10} drift on:  {:8.0} requests/s  p50 {:.3} ms  p99 {:.3} ms  (cost {:+.1} % throughput)",
            b.0,
            b.1,
            b.2,
            (1.0 - b.0 / a.0) * 100.0
        );
        println!(
            "{{\"workload\":\"serve\",\"model\":\"{name}\",\"clients\":{CLIENTS},\"rounds\":{rounds},\"off_per_s\":{:.1},\"on_per_s\":{:.1}}}",
            a.0, b.0
        );
    }
    Ok(())
}

/// One JSON body per test sample, in raw units (as a client would send them).
fn request_bodies(data: &Dataset) -> Vec<Vec<u8>> {
    data.test
        .iter()
        .take(2000)
        .map(|&i| {
            let values: Vec<String> = data.raw_sample(i).iter().map(|v| format!("{v}")).collect();
            format!("{{\"inputs\": [[{}]]}}", values.join(",")).into_bytes()
        })
        .collect()
}

struct Load {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// CLIENTS threads sending requests back to back for `seconds`.
fn load_test(addr: SocketAddr, bodies: &[Vec<u8>], seconds: f64) -> Result<Load> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.2));
    let started = Instant::now();
    let results: Vec<Result<Vec<f64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| s.spawn(move || client(addr, bodies, c, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a client thread panicked"))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for r in results {
        latencies.extend(r?);
    }
    if latencies.is_empty() {
        bail!("no request was answered in {seconds} s");
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((q * latencies.len() as f64) as usize).min(latencies.len() - 1)];
    Ok(Load {
        per_s: latencies.len() as f64 / elapsed,
        p50_ms: at(0.5) * 1e3,
        p99_ms: at(0.99) * 1e3,
    })
}

/// One keep-alive connection: each request's latency in seconds.
fn client(
    addr: SocketAddr,
    bodies: &[Vec<u8>],
    first: usize,
    deadline: Instant,
) -> Result<Vec<f64>> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut out = Vec::new();
    let mut k = first;
    while Instant::now() < deadline {
        let body = &bodies[k % bodies.len()];
        k += 1;
        let t0 = Instant::now();
        let head = format!(
            "POST /predict HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        writer.write_all(head.as_bytes())?;
        writer.write_all(body)?;
        let status = read_response(&mut reader)?;
        if status != 200 {
            bail!("the server answered {status}");
        }
        out.push(t0.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// Reads one response (status line, headers, a Content-Length body); its status.
fn read_response(reader: &mut BufReader<TcpStream>) -> Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response: {line:?}"))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("the connection closed mid-response");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("a bad Content-Length")?;
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}
