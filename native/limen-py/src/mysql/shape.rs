//! `mysql_shape_constants`: the MySQL shape lexer's constants (see
//! `limen_pump::mysql::shape`), for the classifier that judges a text by
//! its shape (`limen.policy.mysql.shape`).
use pyo3::prelude::*;

use limen_pump::mysql::shape::{constants, Kind};

/// The constants the shape key of a `COM_QUERY` text replaces, in order,
/// as `(start, end, is_string)` byte ranges; None when the text has no
/// shape. Short work: the GIL stays held.
#[pyfunction]
fn mysql_shape_constants(sql: &[u8]) -> Option<Vec<(usize, usize, bool)>> {
    constants(sql).map(|(_, spans)| {
        spans
            .into_iter()
            .map(|(a, b, k)| (a, b, k == Kind::Str))
            .collect()
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mysql_shape_constants, m)?)?;
    Ok(())
}
