//! Any bytes given to the model loader: it must return Ok or Err, never panic, hang or allocate
//! without bound; and whatever it accepts must be safe to predict with (bounded walk, in range).
#![no_main]
use libfuzzer_sys::fuzz_target;

use scx_mimic::features::N_FEATURES;
use scx_mimic::model::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Model::from_json(text) {
        // Accepted: predicting must terminate within depth steps and give a valid class.
        for probe in [0.0f32, -1.0, 1e9, f32::MAX, f32::MIN] {
            let x = [probe; N_FEATURES];
            assert!(m.predict(&x) < m.classes.len());
        }
        // And it round-trips.
        assert_eq!(Model::from_json(&m.to_json()).as_ref().ok(), Some(&m));
    }
});
