//! Data-driven detector cases: `tests/cases/positive.txt` (each input masks
//! to the expected output, naming the detector) and `negative.txt` (each
//! input passes through unchanged).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use limen_mask::Masker;

fn unescape(s: &str) -> Vec<u8> {
    s.replace("\\n", "\n").into_bytes()
}

fn cases(file: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/cases/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn positive_cases_mask_as_expected() {
    let masker = Masker::new();
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases("positive.txt") {
        let [det, input, expected] = &case[..] else {
            panic!("bad case line: {case:?}")
        };
        seen.insert(det.clone());
        let got = masker.mask(&unescape(input));
        if got != unescape(expected) {
            failures.push(format!(
                "{det}: {input:?}\n   got {:?}\n  want {expected:?}",
                String::from_utf8_lossy(&got)
            ));
        }
        let findings = masker.findings(&unescape(input));
        if !findings
            .iter()
            .any(|f| masker.detector_name(f.detector) == Some(det.as_str()))
        {
            failures.push(format!("{det}: no finding by that detector in {input:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all: std::collections::BTreeSet<String> = limen_mask::builtin_detector_names()
        .map(String::from)
        .collect();
    assert_eq!(seen, all, "every built-in detector needs positive cases");
}

#[test]
fn negative_cases_pass_through() {
    let masker = Masker::new();
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases("negative.txt") {
        seen.insert(case[0].clone());
        let input = unescape(&case[1]);
        let got = masker.mask(&input);
        if got != input {
            failures.push(format!(
                "{:?}\n   got {:?}",
                case[1],
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
}
