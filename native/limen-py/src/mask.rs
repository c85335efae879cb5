//! Bindings for `limen-mask`: `Masker`, `MaskStream` and the detector list.
//! Conversions only; the logic lives in the crate.

use limen_mask::{Finding, Masker, Rule, Stream};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString};

/// Inputs this large are masked with the GIL released.
const DETACH_AT: usize = 64 * 1024;

/// Borrowed bytes of a `bytes`, or a copy of any other buffer.
enum Data<'py> {
    Borrowed(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
}

impl Data<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Data::Borrowed(b) => b.as_bytes(),
            Data::Owned(v) => v,
        }
    }
}

fn data<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Data<'py>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Data::Borrowed(b.clone()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Data::Owned(b.to_vec()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected bytes-like data, not str (encode it first)",
        ));
    }
    // memoryview and anything else with the buffer protocol
    let buf = pyo3::buffer::PyBuffer::<u8>::get(obj)
        .map_err(|_| PyTypeError::new_err("expected bytes, bytearray or memoryview"))?;
    Ok(Data::Owned(buf.to_vec(obj.py())?))
}

fn finding_tuple(m: &Masker, f: &Finding) -> (String, u64, u64) {
    (
        m.detector_name(f.detector).unwrap_or("?").to_string(),
        f.offset,
        f.len,
    )
}

/// The masker: every selected detector in one automaton.
#[pyclass(name = "Masker", module = "limen._native", frozen)]
pub struct PyMasker {
    pub(crate) inner: Masker,
}

#[pymethods]
impl PyMasker {
    #[new]
    #[pyo3(signature = (detectors=None, regex_rules=Vec::new(), word_rules=Vec::new(), columns=Vec::new()))]
    fn new(
        detectors: Option<Vec<String>>,
        regex_rules: Vec<(String, String)>,
        word_rules: Vec<(String, Vec<String>, bool)>,
        columns: Vec<String>,
    ) -> PyResult<Self> {
        let mut b = Masker::builder();
        if let Some(d) = detectors {
            b = b.detectors(d);
        }
        for (name, pattern) in regex_rules {
            b = b.rule(Rule::regex(name, pattern));
        }
        for (name, words, ci) in word_rules {
            b = b.rule(Rule::words(name, words, ci));
        }
        b = b.columns(columns);
        let inner = b
            .try_build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyMasker { inner })
    }

    /// Detector names in priority order.
    #[getter]
    fn detectors(&self) -> Vec<String> {
        self.inner.detector_names().map(str::to_string).collect()
    }

    /// The most bytes a stream holds back between feeds.
    #[getter]
    fn max_holdback(&self) -> usize {
        self.inner.max_holdback()
    }

    /// (name, description, max_head_len, max_masked_len, builtin, pattern) per detector.
    fn detector_info(&self) -> Vec<(String, String, usize, usize, bool, String)> {
        self.inner
            .detector_info()
            .map(|d| {
                (
                    d.name.clone(),
                    d.description.clone(),
                    d.max_head_len,
                    d.max_masked_len,
                    d.builtin,
                    d.pattern.clone(),
                )
            })
            .collect()
    }

    fn mask<'py>(
        &self,
        py: Python<'py>,
        data_: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let d = data(data_)?;
        let bytes = d.as_slice();
        let m = &self.inner;
        if bytes.len() < DETACH_AT {
            return Ok(PyBytes::new(py, &m.mask(bytes)));
        }
        // Large: find first, then write the masked bytes straight into the
        // result object, sized exactly (no second buffer, no copy of it).
        let plan = py.detach(|| m.plan(bytes));
        PyBytes::new_with(py, plan.masked_len(), |out| {
            py.detach(|| m.write_plan(bytes, &plan, out))
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
    }

    fn findings(
        &self,
        py: Python<'_>,
        data_: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(String, u64, u64)>> {
        let d = data(data_)?;
        let bytes = d.as_slice();
        let m = &self.inner;
        let found = if bytes.len() >= DETACH_AT {
            py.detach(|| m.findings(bytes))
        } else {
            m.findings(bytes)
        };
        Ok(found.iter().map(|f| finding_tuple(m, f)).collect())
    }

    /// Masks a row's field values in one call. `None` stays `None`; where
    /// `whole[i]` is given, value `i` is replaced by it entirely (a column
    /// rule). Returns (values, number of findings).
    #[pyo3(signature = (values, whole=None))]
    fn mask_many<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        whole: Option<Vec<Option<Vec<u8>>>>,
    ) -> PyResult<(Bound<'py, PyList>, usize)> {
        let out = PyList::empty(py);
        let mut count = 0usize;
        let mut buf = Vec::new();
        for (i, item) in values.try_iter()?.enumerate() {
            let item = item?;
            if item.is_none() {
                out.append(py.None())?;
                continue;
            }
            if let Some(Some(rep)) = whole.as_ref().and_then(|w| w.get(i)) {
                out.append(PyBytes::new(py, rep))?;
                count += 1;
                continue;
            }
            let d = data(&item)?;
            buf.clear();
            count += self.inner.mask_into(d.as_slice(), &mut buf);
            out.append(PyBytes::new(py, &buf))?;
        }
        Ok((out, count))
    }

    /// The whole-value replacement for a column, if a column rule covers it.
    #[pyo3(signature = (table, column))]
    fn column_replacement<'py>(
        &self,
        py: Python<'py>,
        table: Option<&str>,
        column: &str,
    ) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .column_replacement(table, column)
            .map(|r| PyBytes::new(py, &r))
    }

    fn stream(&self) -> PyMaskStream {
        PyMaskStream {
            inner: self.inner.stream(),
        }
    }
}

/// A stream through a masker: output for any split equals one-shot masking.
#[pyclass(name = "MaskStream", module = "limen._native")]
pub struct PyMaskStream {
    inner: Stream,
}

#[pymethods]
impl PyMaskStream {
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let d = data(chunk)?;
        let bytes = d.as_slice();
        // What is held back comes out with the chunk: room for both, so the
        // buffer is not grown (copied, its pages touched again) per feed.
        let mut out = Vec::with_capacity(bytes.len() + self.inner.pending() + 64);
        if bytes.len() >= DETACH_AT {
            let s = &mut self.inner;
            py.detach(|| s.feed_into(bytes, &mut out));
        } else {
            self.inner.feed_into(bytes, &mut out);
        }
        Ok(PyBytes::new(py, &out))
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.finish())
    }

    /// Findings since the last call: (detector, stream offset, length).
    fn take_findings(&mut self) -> Vec<(String, u64, u64)> {
        let found = self.inner.take_findings();
        let m = self.inner.masker();
        found.iter().map(|f| finding_tuple(m, f)).collect()
    }

    /// Bytes held back, not yet emitted.
    #[getter]
    fn pending(&self) -> usize {
        self.inner.pending()
    }
}

/// The built-in detector names, in priority order.
#[pyfunction]
fn detector_names() -> Vec<&'static str> {
    limen_mask::builtin_detector_names().collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMasker>()?;
    m.add_class::<PyMaskStream>()?;
    m.add_function(wrap_pyfunction!(detector_names, m)?)?;
    Ok(())
}
