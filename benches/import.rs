//! Registry imports: rows per second of one `ImportRegistry` call writing
//! its records one after another (concurrency 1, as imports were written
//! before) and with the service's concurrency, in alternating runs of the
//! same process, each on a fresh data directory with the default fsync
//! durability.
//!
//! ```sh
//! cargo bench --bench import -- --rows 3000 --pairs 3
//! ```
//!
//! Each run opens the server's state in-process, imports a generated
//! enterprise file of `--rows` rows (valid credit codes, check character
//! included) through the service, checks that every row was added, imports
//! the same file again and checks that nothing was written, and prints both
//! times. `--concurrency N` sets the concurrent side (default 32, the
//! service's own); `--dir DIR` where the data directories go (default the
//! system's temporary directory; it should be on the disk the server
//! uses, since the fsyncs are the cost).

use std::{path::PathBuf, time::Instant};

use rectify::{
    pb::{self, registry_service_server::RegistryService as _},
    server::{config::ServerConfig, services::Registry, state::open_state},
    wire,
};
use rectify_domain::registry::credit::check_character;

/// The command line.
struct Args {
    rows: usize,
    pairs: usize,
    concurrency: usize,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    Args {
        rows: arg("--rows").map_or(3_000, |n| n.parse().expect("--rows N")),
        pairs: arg("--pairs").map_or(3, |n| n.parse().expect("--pairs N")),
        concurrency: arg("--concurrency").map_or(32, |n| n.parse().expect("--concurrency N")),
        dir: arg("--dir").map(PathBuf::from),
    }
}

/// The 18-character credit code of enterprise `i`: registration authority
/// 9 (industry and commerce), class 1, a district's area code, an
/// organisation code from `i`, and the check character.
fn credit_code(i: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut organisation = String::new();
    let mut n = i;
    for _ in 0..9 {
        organisation.insert(0, char::from(ALPHABET[n % ALPHABET.len()]));
        n /= ALPHABET.len();
    }
    let first17 = format!("91150602{organisation}");
    let check = check_character(&first17).expect("the generated code is in the alphabet");
    format!("{first17}{check}")
}

/// An enterprise file of `rows` rows.
fn enterprises(rows: usize) -> String {
    let mut csv = String::from("credit_code,name,kind,district,aliases\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{},鄂尔多斯市第{i}商贸有限公司,above_scale,dongsheng,第{i}商贸\n",
            credit_code(i)
        ));
    }
    csv
}

fn request(csv: &str) -> tonic::Request<pb::ImportRegistryRequest> {
    let mut request = tonic::Request::new(pb::ImportRegistryRequest {
        kind: pb::RegistryKind::Enterprise as i32,
        csv: csv.to_owned(),
    });
    let metadata = request.metadata_mut();
    metadata.insert(wire::HEADER_ROLE, "admin".parse().unwrap());
    metadata.insert(wire::HEADER_PRINCIPAL, "bench-admin".parse().unwrap());
    request
}

/// One import of `csv` into a fresh data directory, then the same again:
/// seconds of each.
async fn run(csv: &str, rows: usize, concurrency: usize, parent: &std::path::Path) -> (f64, f64) {
    let dir = tempfile::tempdir_in(parent).expect("a data directory");
    let state = open_state(&ServerConfig::local(dir.path().to_path_buf()))
        .await
        .expect("the state opens");
    let service = Registry::new(state.clone()).with_import_concurrency(concurrency);
    let started = Instant::now();
    let first = service
        .import_registry(request(csv))
        .await
        .expect("the import succeeds")
        .into_inner();
    let first_s = started.elapsed().as_secs_f64();
    assert_eq!(first.added as usize, rows, "every row is added");
    let started = Instant::now();
    let again = service
        .import_registry(request(csv))
        .await
        .expect("the repeated import succeeds")
        .into_inner();
    let again_s = started.elapsed().as_secs_f64();
    assert_eq!(
        again.unchanged as usize, rows,
        "a repeated import writes nothing"
    );
    assert_eq!(again.position, first.position);
    state.abort_background();
    state.store.clone().close().await.expect("the store closes");
    (first_s, again_s)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

#[tokio::main]
async fn main() {
    let args = args();
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let csv = enterprises(args.rows);
    let mut sequential = Vec::new();
    let mut concurrent = Vec::new();
    println!("| run | writes at once | import s | rows/s | repeated import s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for pair in 0..args.pairs {
        // Alternate which goes first, so neither always meets a warmer disk.
        let order = if pair % 2 == 0 {
            [1, args.concurrency]
        } else {
            [args.concurrency, 1]
        };
        for concurrency in order {
            let (first_s, again_s) = run(&csv, args.rows, concurrency, &parent).await;
            let rate = args.rows as f64 / first_s;
            println!(
                "| {} | {concurrency} | {first_s:.2} | {rate:.0} | {again_s:.2} |",
                pair + 1
            );
            if concurrency == 1 {
                sequential.push(rate);
            } else {
                concurrent.push(rate);
            }
        }
    }
    let (sequential, concurrent) = (median(&mut sequential), median(&mut concurrent));
    println!();
    println!(
        "median rows/s: one at a time {sequential:.0}, {} at a time {concurrent:.0}; ratio {:.2}",
        args.concurrency,
        concurrent / sequential
    );
}
