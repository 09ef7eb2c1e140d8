//! Writes `examples/grpc/inventory.v1.rs` from `examples/grpc/inventory.proto`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("examples/grpc");
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .out_dir(&dir)
        .compile_with_config(config, &[dir.join("inventory.proto")], &[dir.clone()])?;
    println!("wrote {}", dir.join("inventory.v1.rs").display());
    Ok(())
}
