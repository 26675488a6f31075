//! Compiles the vendored ONNX schema (src/deploy/onnx/onnx.proto3) into Rust types with
//! `protox`, a pure-Rust protobuf compiler, so building needs no `protoc` on the machine.

fn main() {
    let dir = "src/deploy/onnx";
    println!("cargo:rerun-if-changed={dir}/onnx.proto3");
    let descriptors =
        protox::compile(["onnx.proto3"], [dir]).expect("the vendored onnx.proto3 compiles");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("prost generates the ONNX types");
}
