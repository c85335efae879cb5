//! One-shot masking in two steps: find first (a scan that writes nothing),
//! then write the masked bytes into a buffer of exactly the right length.
//! The Python binding writes them straight into the `bytes` object it
//! returns, so a large result is neither built twice nor grown by doubling
//! (a doubled 16 MiB buffer is a fresh 32 MiB mapping, faulted in again on
//! every call).
//!
//! The masked form is the input with each finding's bytes replaced by its
//! detector's replacement (or `0`, [`Finding::as_number`]): `scan.rs` emits exactly that (the bytes between
//! a head's secret and its end are emitted and belong to no finding; a tail
//! extends the finding to where the tail stops). The differential test in
//! `tests/plan.rs` holds [`Masker::write_plan`] to [`Masker::mask`].

use crate::masker::{Finding, Masker};

/// The findings of one input and the exact length of its masked form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskPlan {
    found: Vec<Finding>,
    input_len: usize,
    masked_len: usize,
}

impl MaskPlan {
    /// The length of the masked output in bytes.
    pub fn masked_len(&self) -> usize {
        self.masked_len
    }

    /// Where the secrets are (offsets into the input).
    pub fn findings(&self) -> &[Finding] {
        &self.found
    }
}

/// [`Masker::write_plan`] was given other data, another output length or a
/// plan from another masker than the plan was made for. Nothing written may
/// be used (fail closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanMismatch;

impl core::fmt::Display for PlanMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("mask plan does not fit the data or the output buffer")
    }
}

impl std::error::Error for PlanMismatch {}

impl Masker {
    /// Finds the secrets in `data` and the length of its masked form,
    /// without writing the masked bytes (see [`Masker::write_plan`]).
    pub fn plan(&self, data: &[u8]) -> MaskPlan {
        let found = self.findings(data);
        // A plan that does not add up gets a length no output can have
        // (`usize::MAX`), so writing it fails.
        let masked_len = self.planned_len(data.len(), &found).unwrap_or(usize::MAX);
        MaskPlan {
            found,
            input_len: data.len(),
            masked_len,
        }
    }

    fn planned_len(&self, input_len: usize, found: &[Finding]) -> Option<usize> {
        let mut len = input_len;
        for f in found {
            let rep = self.replacement(f)?.len();
            len = len
                .checked_sub(usize::try_from(f.len).ok()?)?
                .checked_add(rep)?;
        }
        Some(len)
    }

    /// Writes `data` masked by `plan` (made by [`Masker::plan`] from the same
    /// `data`) into `out`, which must be exactly
    /// [`MaskPlan::masked_len`] bytes long. The result equals
    /// [`Masker::mask`]`(data)`.
    pub fn write_plan(
        &self,
        data: &[u8],
        plan: &MaskPlan,
        out: &mut [u8],
    ) -> Result<(), PlanMismatch> {
        if data.len() != plan.input_len || out.len() != plan.masked_len {
            return Err(PlanMismatch);
        }
        let mut pos = 0usize;
        let mut w = 0usize;
        for f in &plan.found {
            let start = usize::try_from(f.offset).map_err(|_| PlanMismatch)?;
            let len = usize::try_from(f.len).map_err(|_| PlanMismatch)?;
            let end = start.checked_add(len).ok_or(PlanMismatch)?;
            put(out, &mut w, data.get(pos..start).ok_or(PlanMismatch)?)?;
            put(out, &mut w, self.replacement(f).ok_or(PlanMismatch)?)?;
            pos = end;
        }
        put(out, &mut w, data.get(pos..).ok_or(PlanMismatch)?)?;
        if w == out.len() {
            Ok(())
        } else {
            Err(PlanMismatch)
        }
    }
}

fn put(out: &mut [u8], w: &mut usize, bytes: &[u8]) -> Result<(), PlanMismatch> {
    let end = w.checked_add(bytes.len()).ok_or(PlanMismatch)?;
    out.get_mut(*w..end)
        .ok_or(PlanMismatch)?
        .copy_from_slice(bytes);
    *w = end;
    Ok(())
}
