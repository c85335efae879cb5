//! Where the pump and the client core write their records: straight into
//! the session's native `RecordWriter`, or into a queue Python drains
//! (`take_records`) for other recorders, in order with its own records.
use std::sync::{Arc, Mutex};

use limen_pump::{RecordKind, RecordSink};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::record::LogSink;

/// Records waiting for Python (when the recorder is not a native log).
#[derive(Default)]
pub(crate) struct RecordQueue {
    items: Vec<(RecordKind, Vec<u8>, bool)>,
    bytes: usize,
    signalled: bool,
}

/// Past this many queued bytes the pump stops reading until Python drains.
const QUEUE_CAP: usize = 4 << 20;

pub(crate) enum Sink {
    Log(LogSink),
    Queue(Arc<Mutex<RecordQueue>>),
}

impl Sink {
    /// A sink into `log`, or a new queue (returned too) when there is none.
    pub(crate) fn new(log: Option<LogSink>) -> (Self, Option<Arc<Mutex<RecordQueue>>>) {
        match log {
            Some(l) => (Sink::Log(l), None),
            None => {
                let q = Arc::new(Mutex::new(RecordQueue::default()));
                (Sink::Queue(Arc::clone(&q)), Some(q))
            }
        }
    }
}

impl RecordSink for Sink {
    fn try_append_flagged(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), String> {
        match self {
            Sink::Log(l) => l.try_append_flagged(kind, payload, masked),
            Sink::Queue(q) => {
                let mut q = q
                    .lock()
                    .map_err(|_| "the record queue lock is poisoned".to_owned())?;
                q.bytes += payload.len();
                q.items.push((kind, payload.to_vec(), masked));
                Ok(())
            }
        }
    }

    fn try_append(&mut self, kind: RecordKind, payload: &[u8]) -> Result<(), String> {
        self.try_append_flagged(kind, payload, false)
    }

    /// The same log or queue, for the pump's worker that masks a huge
    /// message (its record's copy is made there).
    fn detach(&mut self) -> Option<Box<dyn RecordSink + Send>> {
        match self {
            Sink::Log(l) => l.detach(),
            Sink::Queue(q) => Some(Box::new(Sink::Queue(Arc::clone(q)))),
        }
    }

    fn needs_host(&mut self) -> bool {
        match self {
            Sink::Log(_) => false,
            Sink::Queue(q) => match q.lock() {
                Ok(mut q) if !q.items.is_empty() && !q.signalled => {
                    q.signalled = true;
                    true
                }
                _ => false,
            },
        }
    }

    fn congested(&self) -> bool {
        match self {
            Sink::Log(_) => false,
            Sink::Queue(q) => q.lock().map(|q| q.bytes > QUEUE_CAP).unwrap_or(true),
        }
    }
}

/// Takes the queued records as `(kind, payload, masked)` tuples.
pub(crate) fn take_records<'py>(
    py: Python<'py>,
    queue: Option<&Arc<Mutex<RecordQueue>>>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    let Some(q) = queue else {
        return Ok(out);
    };
    let items = {
        let mut q = q
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the record queue lock is poisoned"))?;
        q.signalled = false;
        q.bytes = 0;
        std::mem::take(&mut q.items)
    };
    for (kind, payload, masked) in items {
        out.append((kind.name(), PyBytes::new(py, &payload), masked))?;
    }
    Ok(out)
}
