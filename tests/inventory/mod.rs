//! The gRPC example's generated `inventory.v1` code, for the tests that call its service.

#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    dead_code,
    clippy::all
)]

include!("../../examples/grpc/inventory.v1.rs");
