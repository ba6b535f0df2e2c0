//! PostgreSQL tests run where `VALET_TEST_POSTGRES` names a server at build time, and
//! are compiled as ignored elsewhere (so that a machine without PostgreSQL shows them as
//! ignored, never as passed).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=VALET_TEST_POSTGRES");
    if std::env::var_os("VALET_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
