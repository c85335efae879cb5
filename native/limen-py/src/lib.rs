//! `limen._native`: the pyo3 glue. Each submodule wraps one sans-IO crate and
//! only converts types; the logic lives in the crates.
use pyo3::prelude::*;

mod http;
mod mask;
mod mysql;
mod pump;
mod record;
mod ssh;
mod wire;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    mask::register(m)?;
    record::register(m)?;
    wire::register(m)?;
    pump::register(m)?;
    mysql::register(m)?;
    ssh::register(m)?;
    http::register(m)?;
    Ok(())
}
