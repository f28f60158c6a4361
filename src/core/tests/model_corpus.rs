//! Replays the fuzz target's regression corpus (tests/fuzz/corpus/model_loader) through the
//! model loader on every `cargo test`: every input must load or be refused, never panic, and
//! every accepted model must predict a valid class.
use scx_mimic::features::N_FEATURES;
use scx_mimic::model::Model;

#[test]
fn fuzz_corpus_never_panics_the_loader() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/model_loader");
    let mut n = 0;
    let mut accepted = 0;
    for e in std::fs::read_dir(&dir).expect("corpus folder") {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        n += 1;
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        if let Ok(m) = Model::from_json(text) {
            accepted += 1;
            assert!(m.predict(&[0.0; N_FEATURES]) < m.classes.len());
        }
    }
    assert!(n >= 10, "corpus too small ({n} files)");
    assert!(accepted >= 1, "the corpus should hold at least one valid model");
}
