//! Compiles `proto/` into Rust with protox (a pure-Rust protobuf compiler), so
//! building the gateway needs no `protoc` on the machine. The descriptor set is
//! kept for gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let files = [
        "switchboard/v1/chat.proto",
        "switchboard/v1/embedding.proto",
    ];
    let descriptors = protox::compile(files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("switchboard_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        // Ordered maps: request metadata goes upstream in a stable order.
        .btree_map(".")
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
