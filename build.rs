//! Compiles `proto/` into Rust with a pure-Rust protobuf compiler (no system
//! `protoc` needed) and writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

use prost::Message as _;

const PROTOS: &[&str] = &[
    "rectify/v1/common.proto",
    "rectify/v1/complaints.proto",
    "rectify/v1/events.proto",
    "rectify/v1/catalog.proto",
    "rectify/v1/queries.proto",
    "rectify/v1/ledgers.proto",
    "rectify/v1/registry.proto",
    "rectify/v1/transparency.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("rectify_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
